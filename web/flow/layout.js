// A simple layered layout of a directed graph (the flow diagram's): edges that close a cycle
// are turned around (found depth-first from the first node), each node's layer is the longest
// path to it from a node without predecessors, an edge spanning several layers passes through a
// waypoint in each layer between (so it goes around the boxes, not through them), and the order
// within each layer comes from a few barycenter sweeps, which reduce edge crossings.

/** Barycenter sweeps (each one down and up). */
const SWEEPS = 4;

/**
 * Layers and their order for `nodes` (the first is where the flow starts). Waypoints are extra
 * entries of `layers` named `\u0002<edge index>:<n>`; `routes[i]` is edge i's way from its
 * `from` to its `to` through them (empty for an edge to itself), `backward[i]` whether it goes
 * to an earlier layer.
 * @param {string[]} nodes
 * @param {{ from: string, to: string }[]} edges
 * @returns {{ layers: string[][], layerOf: Map<string, number>, rowOf: Map<string, number>, routes: string[][], backward: boolean[] }}
 */
export function layered(nodes, edges) {
  /** @type {Map<string, string[]>} */
  const successors = new Map(nodes.map((n) => [n, []]));
  for (const { from, to } of edges) {
    if (from !== to && successors.has(from) && successors.has(to)) successors.get(from)?.push(to);
  }

  // Depth-first from the first node, then from any node not reached: the post-order, and the
  // edges that go back to a node still on the stack (they close cycles).
  /** @type {string[]} */
  const postOrder = [];
  const state = new Map();
  const backEdges = new Set();
  const visit = (/** @type {string} */ node) => {
    state.set(node, "open");
    for (const next of successors.get(node) ?? []) {
      if (state.get(next) === "open") backEdges.add(`${node}\u0000${next}`);
      else if (!state.has(next)) visit(next);
    }
    state.set(node, "done");
    postOrder.push(node);
  };
  for (const node of nodes) if (!state.has(node)) visit(node);

  const topological = postOrder.reverse();
  /** @type {Map<string, number>} */
  const layerOf = new Map(nodes.map((n) => [n, 0]));
  for (const node of topological) {
    for (const next of successors.get(node) ?? []) {
      if (backEdges.has(`${node}\u0000${next}`)) continue;
      layerOf.set(next, Math.max(layerOf.get(next) ?? 0, (layerOf.get(node) ?? 0) + 1));
    }
  }

  /** @type {string[][]} */
  const layers = [];
  for (const node of topological) (layers[layerOf.get(node) ?? 0] ??= []).push(node);

  // Each edge's way, left to right, with a waypoint in every layer it crosses.
  const backward = edges.map(({ from, to }) => from !== to && (layerOf.get(to) ?? 0) <= (layerOf.get(from) ?? 0));
  const routes = edges.map(({ from, to }, index) => {
    if (from === to || !successors.has(from) || !successors.has(to)) return [];
    const [left, right] = backward[index] ? [to, from] : [from, to];
    const way = [left];
    for (let layer = (layerOf.get(left) ?? 0) + 1; layer < (layerOf.get(right) ?? 0); layer++) {
      const waypoint = `\u0002${index}:${layer}`;
      layerOf.set(waypoint, layer);
      layers[layer].push(waypoint);
      way.push(waypoint);
    }
    way.push(right);
    return backward[index] ? way.reverse() : way;
  });
  const links = routes.flatMap((way) => way.slice(1).map((to, i) => ({ from: way[i], to })));
  const neighbours = neighbourLists([...layerOf.keys()], links);
  for (let sweep = 0; sweep < SWEEPS; sweep++) {
    for (let i = 1; i < layers.length; i++) sortByBarycenter(layers[i], neighbours.before, layers);
    for (let i = layers.length - 2; i >= 0; i--) sortByBarycenter(layers[i], neighbours.after, layers);
  }
  /** @type {Map<string, number>} */
  const rowOf = new Map();
  layers.forEach((layer) => layer.forEach((node, row) => rowOf.set(node, row)));
  return { layers, layerOf, rowOf, routes, backward };

  /**
   * Each node's neighbours in earlier layers (`before`) and in later ones (`after`).
   * @param {string[]} all
   * @param {{ from: string, to: string }[]} links
   */
  function neighbourLists(all, links) {
    /** @type {Map<string, string[]>} */ const before = new Map(all.map((n) => [n, []]));
    /** @type {Map<string, string[]>} */ const after = new Map(all.map((n) => [n, []]));
    for (const { from, to } of links) {
      const a = layerOf.get(from);
      const b = layerOf.get(to);
      if (a === undefined || b === undefined || a === b) continue;
      const [early, late] = a < b ? [from, to] : [to, from];
      before.get(late)?.push(early);
      after.get(early)?.push(late);
    }
    return { before, after };
  }
}

/**
 * Sorts `layer` in place by the mean position of each node's neighbours (nodes without any
 * keep their place).
 * @param {string[]} layer
 * @param {Map<string, string[]>} neighbours
 * @param {string[][]} layers
 */
function sortByBarycenter(layer, neighbours, layers) {
  /** @type {Map<string, number>} */
  const position = new Map();
  for (const l of layers) l.forEach((node, row) => position.set(node, l.length > 1 ? row / (l.length - 1) : 0.5));
  const weight = new Map(
    layer.map((node, row) => {
      const around = neighbours.get(node) ?? [];
      const mean = around.length === 0 ? (layer.length > 1 ? row / (layer.length - 1) : 0.5) : around.reduce((sum, n) => sum + (position.get(n) ?? 0), 0) / around.length;
      return [node, mean];
    }),
  );
  layer.sort((a, b) => (weight.get(a) ?? 0) - (weight.get(b) ?? 0));
}
