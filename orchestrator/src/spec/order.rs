//! Start order of the containers: each comes after the one-shot containers
//! it depends on, otherwise in file order. Dependency cycles are reported
//! here.

use std::collections::BTreeMap;

use super::convert::{in_file_order, Converter};
use super::model::ContainerSpec;
use super::raw::RawStack;

/// Sorts `containers` (given in file order) so that dependencies come first,
/// and records one diagnostic per dependency cycle.
pub(crate) fn order_containers(
    raw: &RawStack,
    containers: Vec<ContainerSpec>,
    converter: &mut Converter<'_>,
) -> Vec<ContainerSpec> {
    let index: BTreeMap<&str, usize> = containers
        .iter()
        .enumerate()
        .map(|(position, container)| (container.name.as_str(), position))
        .collect();

    let mut marks = vec![Mark::Unvisited; containers.len()];
    let mut order = Vec::with_capacity(containers.len());
    let mut path = Vec::new();
    for start in 0..containers.len() {
        visit(
            start,
            &containers,
            &index,
            &mut marks,
            &mut path,
            &mut order,
            raw,
            converter,
        );
    }

    let mut slots: Vec<Option<ContainerSpec>> = containers.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|position| slots[position].take())
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Unvisited,
    InProgress,
    Done,
}

/// Depth-first search that appends each container after its dependencies.
/// Reaching a container that is in progress closes a cycle.
#[allow(clippy::too_many_arguments)]
fn visit(
    position: usize,
    containers: &[ContainerSpec],
    index: &BTreeMap<&str, usize>,
    marks: &mut [Mark],
    path: &mut Vec<usize>,
    order: &mut Vec<usize>,
    raw: &RawStack,
    converter: &mut Converter<'_>,
) {
    if marks[position] != Mark::Unvisited {
        return;
    }
    marks[position] = Mark::InProgress;
    path.push(position);

    let container = &containers[position];
    for dependency in &container.depends_on {
        // Undefined names and self-dependencies are reported by the
        // conversion of `depends_on`.
        let Some(&next) = index.get(dependency.as_str()) else {
            continue;
        };
        if next == position {
            continue;
        }
        match marks[next] {
            Mark::Unvisited => visit(next, containers, index, marks, path, order, raw, converter),
            Mark::InProgress => report_cycle(position, next, containers, path, raw, converter),
            Mark::Done => {}
        }
    }

    path.pop();
    marks[position] = Mark::Done;
    order.push(position);
}

fn report_cycle(
    from: usize,
    to: usize,
    containers: &[ContainerSpec],
    path: &[usize],
    raw: &RawStack,
    converter: &mut Converter<'_>,
) {
    let cycle_start = path.iter().position(|&entry| entry == to).unwrap_or(0);
    let mut names: Vec<&str> = path[cycle_start..]
        .iter()
        .map(|&entry| containers[entry].name.as_str())
        .collect();
    names.push(containers[to].name.as_str());

    let from_name = &containers[from].name;
    let to_name = &containers[to].name;
    let span = in_file_order(&raw.containers)
        .into_iter()
        .find(|(name, _)| name.get_ref() == from_name)
        .and_then(|(_, container)| {
            container
                .get_ref()
                .depends_on
                .iter()
                .find(|dependency| dependency.get_ref() == to_name)
                .map(|dependency| dependency.span())
        })
        .unwrap_or(0..0);
    converter.error(
        span,
        format!("dependency cycle: {}", names.join(" -> ")),
        format!("remove `{to_name}` from `containers.{from_name}.depends_on` or another link of the cycle"),
    );
}
