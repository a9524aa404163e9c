//! Spreading one group's tasks: a tree of placement preferences (one level
//! per `spread=` descriptor, one branch per label value) whose leaves hold
//! min-heaps of eligible nodes ordered by this service's task count, then
//! all tasks. Tasks are shared between branches so that every branch ends
//! with as even a count as room allows (swarmkit's decision tree).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use super::Placement;
use super::filter::GroupFilter;
use super::nodeinfo::NodeInfo;
use crate::constraint::{ENGINE_LABEL_PREFIX, NODE_LABEL_PREFIX};
use crate::model::{Node, PlacementPreference};

type NodeKey = Reverse<(u32, u32, usize)>;

#[derive(Debug, Default)]
pub(crate) struct Tree {
    /// This service's active tasks on all nodes under this branch,
    /// eligible or not.
    tasks: u64,
    children: BTreeMap<String, Tree>,
    heap: BinaryHeap<NodeKey>,
}

/// The label a spread descriptor names; `None` for descriptors swarmkit
/// ignores.
fn spread_value<'n>(descriptor: &str, node: &'n Node) -> Option<&'n str> {
    let strip = |prefix: &str| {
        (descriptor.len() > prefix.len()
            && descriptor.is_char_boundary(prefix.len())
            && descriptor[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &descriptor[prefix.len()..])
    };
    if let Some(label) = strip(NODE_LABEL_PREFIX) {
        Some(
            node.spec
                .annotations
                .labels
                .get(label)
                .map_or("", String::as_str),
        )
    } else if let Some(label) = strip(ENGINE_LABEL_PREFIX) {
        Some(
            node.description
                .engine
                .labels
                .get(label)
                .map_or("", String::as_str),
        )
    } else {
        None
    }
}

impl Tree {
    pub(crate) fn build(
        infos: &[NodeInfo<'_>],
        service_tasks: &[u32],
        eligible: &[bool],
        prefs: &[PlacementPreference],
    ) -> Tree {
        let descriptors: Vec<&str> = prefs
            .iter()
            .filter_map(|p| p.spread.as_ref().map(|s| s.spread_descriptor.as_str()))
            .collect();
        let mut root = Tree::default();
        for (i, info) in infos.iter().enumerate() {
            let count = u64::from(service_tasks[i]);
            let mut tree = &mut root;
            for d in &descriptors {
                let Some(value) = spread_value(d, info.node) else {
                    continue;
                };
                tree.tasks += count;
                tree = tree.children.entry(value.to_string()).or_default();
            }
            tree.tasks += count;
            if eligible[i] {
                tree.heap.push(Reverse((service_tasks[i], info.active, i)));
            }
        }
        root
    }
}

/// Places tasks of one group and records the placements.
pub(crate) struct Assigner<'s, 'a> {
    pub infos: &'s mut [NodeInfo<'a>],
    pub service_tasks: &'s mut [u32],
    pub filter: &'s GroupFilter<'a>,
    pub service_id: &'a str,
    pub queue: std::vec::IntoIter<usize>,
    pub placed: &'s mut Vec<Placement>,
}

impl Assigner<'_, '_> {
    /// Places up to `n` tasks under `tree`; returns how many it placed.
    pub(crate) fn on_subtree(&mut self, tree: &mut Tree, n: u64) -> u64 {
        let placed = if tree.children.is_empty() {
            self.on_leaf(&mut tree.heap, n)
        } else {
            self.on_branches(tree, n)
        };
        tree.tasks += placed;
        placed
    }

    /// Water-filling: aim every usable branch at the same total, let a
    /// branch that cannot take its share drop out, repeat with the rest.
    fn on_branches(&mut self, tree: &mut Tree, n: u64) -> u64 {
        let mut scheduled = 0u64;
        let keys: Vec<String> = tree.children.keys().cloned().collect();
        let mut full = vec![false; keys.len()];
        loop {
            let usable = full.iter().filter(|f| !**f).count() as u64;
            if scheduled == n || usable == 0 {
                break;
            }
            let existing: u64 = keys
                .iter()
                .zip(&full)
                .filter(|(_, f)| !**f)
                .map(|(k, _)| tree.children.get(k).map_or(0, |c| c.tasks))
                .sum();
            let total = existing + (n - scheduled);
            let desired = total / usable;
            let mut remainder = total % usable;
            let mut progressed = false;
            for (i, key) in keys.iter().enumerate() {
                if full[i] || scheduled == n {
                    continue;
                }
                let Some(child) = tree.children.get_mut(key) else {
                    continue;
                };
                let have = child.tasks;
                if have < desired || (have == desired && remainder > 0) {
                    let mut want = desired.saturating_sub(have);
                    if remainder > 0 {
                        want += 1;
                    }
                    let want = want.min(n - scheduled);
                    let got = self.on_subtree(child, want);
                    if got < want {
                        full[i] = true;
                    } else {
                        remainder = remainder.saturating_sub(1);
                    }
                    if got > 0 {
                        progressed = true;
                    }
                    scheduled += got;
                }
            }
            if !progressed {
                break;
            }
        }
        scheduled
    }

    fn on_leaf(&mut self, heap: &mut BinaryHeap<NodeKey>, n: u64) -> u64 {
        let mut placed = 0;
        while placed < n {
            let Some(Reverse((_, _, i))) = heap.pop() else {
                break;
            };
            let Some(task) = self.queue.next() else { break };
            let info = &mut self.infos[i];
            let generic_resources = self.filter.reserve(info);
            info.active += 1;
            *info.by_service.entry(self.service_id).or_default() += 1;
            self.service_tasks[i] += 1;
            self.placed.push(Placement {
                task,
                node: i,
                generic_resources,
            });
            placed += 1;
            if self
                .filter
                .check_dynamic(info, self.service_tasks[i])
                .is_ok()
            {
                heap.push(Reverse((self.service_tasks[i], info.active, i)));
            }
        }
        placed
    }
}
