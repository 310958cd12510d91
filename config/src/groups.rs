//! Ordering `[hosts]` groups so each is resolved after the groups it names,
//! and finding reference cycles — iteratively, so a deeply nested policy
//! pushed to the control plane cannot overflow the stack.

use std::collections::BTreeMap;

/// A reference cycle: the groups along it (first repeated at the end) and the edge that closed it.
pub(crate) struct Cycle<'a, E> {
    pub(crate) path: Vec<&'a str>,
    pub(crate) edge: E,
}

/// Depth-first post-order of `graph` (a group after every group it references)
/// and every cycle found. References to names outside `graph` are ignored.
pub(crate) fn post_order<'a, E: Clone>(
    graph: &BTreeMap<&'a str, Vec<(&'a str, E)>>,
) -> (Vec<&'a str>, Vec<Cycle<'a, E>>) {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Open,
        Done,
    }
    let mut state: BTreeMap<&str, State> = graph.keys().map(|k| (*k, State::New)).collect();
    let mut order = Vec::with_capacity(graph.len());
    let mut cycles = Vec::new();
    let no_edges = Vec::new();
    for &root in graph.keys() {
        if state.get(root) != Some(&State::New) {
            continue;
        }
        state.insert(root, State::Open);
        let mut stack: Vec<(&str, usize)> = vec![(root, 0)];
        while let Some(&(node, next)) = stack.last() {
            let edges = graph.get(node).unwrap_or(&no_edges);
            let Some((target, edge)) = edges.get(next) else {
                state.insert(node, State::Done);
                order.push(node);
                stack.pop();
                continue;
            };
            if let Some(top) = stack.last_mut() {
                top.1 += 1;
            }
            match state.get(target).copied() {
                Some(State::New) => {
                    state.insert(target, State::Open);
                    stack.push((target, 0));
                }
                Some(State::Open) => {
                    let start = stack.iter().position(|(n, _)| n == target).unwrap_or(0);
                    let mut path: Vec<&str> = stack.iter().skip(start).map(|(n, _)| *n).collect();
                    path.push(target);
                    cycles.push(Cycle { path, edge: edge.clone() });
                }
                Some(State::Done) | None => {}
            }
        }
    }
    (order, cycles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_children_first_and_reports_each_cycle_once() {
        let mut g: BTreeMap<&str, Vec<(&str, ())>> = BTreeMap::new();
        g.insert("a", vec![("b", ()), ("c", ())]);
        g.insert("b", vec![("c", ()), ("missing", ())]);
        g.insert("c", vec![]);
        let (order, cycles) = post_order(&g);
        assert_eq!(order, ["c", "b", "a"]);
        assert!(cycles.is_empty());

        g.insert("c", vec![("a", ())]);
        let (_, cycles) = post_order(&g);
        let paths: Vec<_> = cycles.iter().map(|c| c.path.join(" -> ")).collect();
        assert_eq!(paths, ["a -> b -> c -> a"]);
    }

    #[test]
    fn deep_chains_do_not_recurse() {
        let names: Vec<String> = (0..200_000).map(|i| format!("g{i:06}")).collect();
        let mut g: BTreeMap<&str, Vec<(&str, ())>> = BTreeMap::new();
        for pair in names.windows(2) {
            g.insert(&pair[0], vec![(&pair[1], ())]);
        }
        g.insert(names.last().unwrap(), vec![]);
        let (order, cycles) = post_order(&g);
        assert_eq!(order.len(), names.len());
        assert_eq!(order.first().copied(), names.last().map(String::as_str));
        assert!(cycles.is_empty());
    }
}
