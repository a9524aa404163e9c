//! An in-memory backend for unit tests that records every request the
//! builder makes. Images are a config plus a directory tree (so COPY has
//! real files to work on), layers and containers are copies of their
//! image's tree, and a RUN answers with what the test scripted for it.

use parking_lot::{Mutex, MutexGuard};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use engine::model::CreateRequest;
use engine::{OutputChunk, StdStream};
use image::derive::DeriveOptions;
use image::{ContainerConfigSpec, Reference};
use tokio::sync::{Barrier, mpsc};

use super::{Backend, ImageInfo};
use crate::error::{BuildError, Result};

/// One request the builder made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    Pull(String),
    Commit {
        parent: Option<String>,
        created_by: String,
        layer_from: Option<String>,
    },
    Tag(String, String),
    MountLayer {
        id: String,
        image: String,
    },
    RemoveLayer(String),
    Create {
        image: String,
        cmd: Vec<String>,
        env: Vec<String>,
    },
    Kill(String),
    RemoveContainer(String),
}

#[derive(Debug, Clone)]
pub(crate) struct FakeImage {
    pub parent: Option<String>,
    pub config: ContainerConfigSpec,
    pub created_by: String,
    pub author: Option<String>,
    pub tree: PathBuf,
}

/// What a RUN whose command line contains a word does.
#[derive(Clone)]
struct Script {
    output: String,
    code: i32,
    /// Wait for this many RUNs to meet here first (parallel stages).
    rendezvous: Option<Arc<Barrier>>,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    images: BTreeMap<String, FakeImage>,
    names: BTreeMap<String, String>,
    registry: BTreeMap<String, ContainerConfigSpec>,
    /// Live containers: id → command line.
    containers: BTreeMap<String, String>,
    exits: BTreeMap<String, i32>,
    layers: BTreeSet<String>,
    scripts: Vec<(String, Script)>,
    next: u64,
}

pub(crate) struct FakeBackend {
    root: tempfile::TempDir,
    data_root: PathBuf,
    state: Mutex<State>,
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn no_such(name: &str) -> BuildError {
    BuildError::new(format!("No such image: {name}"))
}

impl FakeBackend {
    pub(crate) fn new() -> Arc<Self> {
        let root = tempfile::tempdir().expect("temp dir");
        let data_root = root.path().join("data");
        std::fs::create_dir_all(data_root.join("build")).expect("data root");
        Arc::new(FakeBackend {
            root,
            data_root,
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    fn new_image(&self, st: &mut State, image: FakeImage) -> String {
        st.next += 1;
        let id = format!("sha256:{:064x}", st.next);
        st.images.insert(id.clone(), image);
        id
    }

    fn dir(&self, kind: &str, id: &str) -> PathBuf {
        self.root
            .path()
            .join(kind)
            .join(id.trim_start_matches("sha256:"))
    }

    /// A local image `name` with `config` and an empty tree.
    pub(crate) fn add_image(&self, name: &str, config: ContainerConfigSpec) -> String {
        let mut st = self.state();
        st.next += 1;
        let tree = self.dir("trees", &format!("seed{}", st.next));
        std::fs::create_dir_all(&tree).expect("tree");
        let image = FakeImage {
            parent: None,
            config,
            created_by: String::new(),
            author: None,
            tree,
        };
        let id = self.new_image(&mut st, image);
        st.names.insert(name.to_string(), id.clone());
        id
    }

    /// An image a pull of `name` finds.
    pub(crate) fn add_remote(&self, name: &str, config: ContainerConfigSpec) {
        self.state().registry.insert(name.to_string(), config);
    }

    /// A RUN whose command line contains `word` prints `output` and exits `code`.
    pub(crate) fn on_run(&self, word: &str, output: &str, code: i32) {
        self.script(word, output, code, None);
    }

    /// RUNs containing `word` wait until `n` of them have started.
    pub(crate) fn rendezvous(&self, word: &str, n: usize) {
        self.script(word, "met\n", 0, Some(Arc::new(Barrier::new(n))));
    }

    fn script(&self, word: &str, output: &str, code: i32, rendezvous: Option<Arc<Barrier>>) {
        let script = Script {
            output: output.to_string(),
            code,
            rendezvous,
        };
        self.state().scripts.push((word.to_string(), script));
    }

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    pub(crate) fn clear_calls(&self) {
        self.state().calls.clear();
    }

    pub(crate) fn fake_image(&self, id: &str) -> FakeImage {
        self.state().images.get(id).cloned().expect("image")
    }

    /// `created_by` of an image and its ancestors, oldest first.
    pub(crate) fn history(&self, id: &str) -> Vec<String> {
        let st = self.state();
        let mut out = Vec::new();
        let mut next = Some(id.to_string());
        while let Some(img) = next.and_then(|id| st.images.get(&id)) {
            out.push(img.created_by.clone());
            next = img.parent.clone();
        }
        out.reverse();
        out
    }

    pub(crate) fn live_containers(&self) -> usize {
        self.state().containers.len()
    }

    pub(crate) fn live_layers(&self) -> usize {
        self.state().layers.len()
    }
}

impl Backend for FakeBackend {
    fn data_root(&self) -> &Path {
        &self.data_root
    }

    fn image(&self, name: &str) -> Result<ImageInfo> {
        let st = self.state();
        let id = st
            .names
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string());
        let img = st.images.get(&id).ok_or_else(|| no_such(name))?;
        Ok(ImageInfo {
            id,
            parent: img.parent.clone(),
            config: img.config.clone(),
        })
    }

    async fn pull(&self, reference: &Reference, _platform: Option<String>) -> Result<String> {
        let name = reference.familiar();
        self.state().calls.push(Call::Pull(name.clone()));
        let config = self.state().registry.get(&name).cloned();
        let config = config.ok_or_else(|| {
            BuildError::new(format!(
                "pull access denied for {name}, repository does not exist"
            ))
        })?;
        Ok(self.add_image(&name, config))
    }

    async fn commit(&self, parent: Option<String>, opts: DeriveOptions) -> Result<String> {
        let mut st = self.state();
        st.calls.push(Call::Commit {
            parent: parent.clone(),
            created_by: opts.created_by.clone(),
            layer_from: opts.layer_from.clone(),
        });
        st.next += 1;
        let tree = self.dir("trees", &format!("commit{}", st.next));
        let from = match (&opts.layer_from, &parent) {
            (Some(l), _) => Some(self.dir("layers", l)),
            (None, Some(p)) => Some(st.images.get(p).ok_or_else(|| no_such(p))?.tree.clone()),
            (None, None) => None,
        };
        match from {
            Some(from) => copy_tree(&from, &tree)?,
            None => std::fs::create_dir_all(&tree)?,
        }
        let image = FakeImage {
            parent,
            config: opts.config,
            created_by: opts.created_by,
            author: opts.author,
            tree,
        };
        Ok(self.new_image(&mut st, image))
    }

    fn tag(&self, id: &str, reference: &Reference) -> Result<()> {
        let mut st = self.state();
        st.calls
            .push(Call::Tag(id.to_string(), reference.familiar()));
        st.names.insert(reference.familiar(), id.to_string());
        Ok(())
    }

    fn mount_layer(&self, id: &str, image: &str) -> Result<PathBuf> {
        let mut st = self.state();
        st.calls.push(Call::MountLayer {
            id: id.to_string(),
            image: image.to_string(),
        });
        let tree = st
            .images
            .get(image)
            .ok_or_else(|| no_such(image))?
            .tree
            .clone();
        let dir = self.dir("layers", id);
        copy_tree(&tree, &dir)?;
        st.layers.insert(id.to_string());
        Ok(dir)
    }

    fn unmount_layer(&self, _id: &str) -> Result<()> {
        Ok(())
    }

    fn remove_layer(&self, id: &str) -> Result<()> {
        let mut st = self.state();
        st.calls.push(Call::RemoveLayer(id.to_string()));
        st.layers.remove(id);
        Ok(std::fs::remove_dir_all(self.dir("layers", id))?)
    }

    async fn create_container(&self, req: CreateRequest) -> Result<String> {
        let mut st = self.state();
        let image = req.config.image.clone();
        let cmd = req.config.cmd.clone().unwrap_or_default();
        st.calls.push(Call::Create {
            image: image.clone(),
            cmd: cmd.clone(),
            env: req.config.env.clone().unwrap_or_default(),
        });
        st.next += 1;
        let id = format!("{:064x}", st.next);
        let tree = st
            .images
            .get(&image)
            .ok_or_else(|| no_such(&image))?
            .tree
            .clone();
        copy_tree(&tree, &self.dir("layers", &id))?;
        st.containers.insert(id.clone(), cmd.join(" "));
        Ok(id)
    }

    async fn start_attached(&self, id: &str) -> Result<mpsc::Receiver<OutputChunk>> {
        let script = {
            let st = self.state();
            let line = st.containers.get(id).cloned().unwrap_or_default();
            st.scripts
                .iter()
                .find(|(word, _)| line.contains(word.as_str()))
                .map(|(_, s)| s.clone())
        };
        let script = script.unwrap_or(Script {
            output: String::new(),
            code: 0,
            rendezvous: None,
        });
        let (mut output, mut code) = (script.output, script.code);
        if let Some(barrier) = script.rendezvous {
            // A RUN that never meets the others fails instead of hanging.
            if tokio::time::timeout(Duration::from_secs(10), barrier.wait())
                .await
                .is_err()
            {
                (output, code) = ("nobody came\n".into(), 1);
            }
        }
        self.state().exits.insert(id.to_string(), code);
        let (tx, rx) = mpsc::channel(4);
        if !output.is_empty() {
            let chunk = OutputChunk {
                stream: StdStream::Stdout,
                data: output.into_bytes().into(),
            };
            let _ = tx.send(chunk).await;
        }
        Ok(rx)
    }

    async fn kill(&self, id: &str) {
        self.state().calls.push(Call::Kill(id.to_string()));
    }

    async fn wait(&self, id: &str) -> Result<i32> {
        Ok(self.state().exits.get(id).copied().unwrap_or(0))
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let mut st = self.state();
        st.calls.push(Call::RemoveContainer(id.to_string()));
        st.containers.remove(id);
        Ok(std::fs::remove_dir_all(self.dir("layers", id))?)
    }
}
