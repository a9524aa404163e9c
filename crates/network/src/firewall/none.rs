use super::Firewall;
use crate::config::{NetworkConfig, PortMapping};
use crate::error::{NetError, Result};

/// No packet filter available: networks still work on the bridge, but
/// without NAT containers cannot reach outside and ports cannot be published.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFirewall;

impl Firewall for NoFirewall {
    fn name(&self) -> &'static str {
        "none"
    }

    fn setup_network(&self, net: &NetworkConfig) -> Result<()> {
        tracing::warn!(network = %net.name, "no firewall backend: no NAT and no isolation");
        Ok(())
    }

    fn teardown_network(&self, _net: &NetworkConfig) -> Result<()> {
        Ok(())
    }

    fn add_port_mapping(&self, _net: &NetworkConfig, _mapping: &PortMapping) -> Result<()> {
        Err(NetError::NoFirewall("publishing ports"))
    }

    fn remove_port_mapping(&self, _net: &NetworkConfig, _mapping: &PortMapping) -> Result<()> {
        Ok(())
    }

    fn cleanup_all(&self) -> Result<()> {
        Ok(())
    }
}
