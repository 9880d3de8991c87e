// The network view: a place, its partners and their partners, laid out with d3-force.

import { forceCollide, forceLink, forceManyBody, forceRadial, forceSimulation } from 'd3-force';

import { h, svg } from './dom.js';
import { placeLabels } from './map.js';

const RING = { home: 0, inside: 70, partner: 140, second: 230 };

/** Starting positions: a radial tree around the place, each branch given an angle in
 * proportion to its size, so branches start apart and the forces only tidy them up. */
function radialStart(nodes, links) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const home = nodes.find((n) => n.role === 'home');
  const children = new Map(nodes.map((n) => [n.id, []]));
  const seen = new Set(home ? [home.id] : []);
  const queue = home ? [home] : [];
  while (queue.length) {
    const n = queue.shift();
    for (const l of links) {
      const other = l.source === n.id ? l.target : l.target === n.id ? l.source : null;
      if (other && !seen.has(other)) {
        seen.add(other);
        children.get(n.id).push(byId.get(other));
        queue.push(byId.get(other));
      }
    }
  }
  const weight = (n) => Math.max(1, children.get(n.id).reduce((sum, c) => sum + weight(c), 0));
  const place = (n, from, to, depthRadius) => {
    const angle = (from + to) / 2;
    n.ring = depthRadius;
    n.x = Math.cos(angle) * depthRadius;
    n.y = Math.sin(angle) * depthRadius;
    const kids = children.get(n.id);
    const total = kids.reduce((sum, c) => sum + weight(c), 0);
    let at = from;
    for (const c of kids) {
      const share = ((to - from) * weight(c)) / total;
      place(c, at, at + share, RING[c.role] + (c.role === 'partner' && n.role === 'inside' ? 30 : 0));
      at += share;
    }
  };
  if (home) place(home, -Math.PI / 2, (3 * Math.PI) / 2, 0);
  for (const n of nodes) {
    if (!seen.has(n.id)) Object.assign(n, { x: 0, y: 0, ring: 0 });
  }
}

// Work per slice of the layout before the browser gets the main thread back: a hub's network
// (a hundred places and more) takes about half a second of a phone's CPU in all, which in one
// piece would leave the page unable to answer a tap or a key meanwhile.
const SLICE_MS = 12;

function nextTask() {
  return new Promise((resolve) => { setTimeout(resolve, 0); });
}

/** Lay out once from fixed starting positions, the same ticks whatever the slicing: the
 * same data always gives the same picture (and the same screenshot). */
async function layout(nodes, links) {
  const simNodes = nodes.map((n) => ({ ...n }));
  const simLinks = links.map((l) => ({ ...l }));
  radialStart(simNodes, simLinks);
  const home = simNodes.find((n) => n.role === 'home');
  if (home) {
    home.fx = 0;
    home.fy = 0;
  }
  const simulation = forceSimulation(simNodes)
    .force('link', forceLink(simLinks).id((d) => d.id)
      .distance((l) => (l.relation === 'inside' ? 60 : 90)).strength(0.3))
    .force('charge', forceManyBody().strength(-90))
    .force('collide', forceCollide(26))
    .force('radial', forceRadial((d) => d.ring).strength(0.5))
    .stop();
  // Only once the page around it has been drawn, then a slice at a time.
  await nextTask();
  let sliceStart = performance.now();
  for (let i = 0; i < 200; i += 1) {
    simulation.tick();
    if (performance.now() - sliceStart > SLICE_MS) {
      await nextTask();
      sliceStart = performance.now();
    }
  }
  return { nodes: simNodes, links: simLinks };
}

/**
 * Draw into `figure`. nodes: [{id, name, role: 'home'|'inside'|'partner'|'second'}];
 * links: [{source, target, relation: 'partner'|'inside', kind}]. `onOpen(id)` opens a place.
 */
export function renderNetwork(figure, { nodes, links, label, onOpen }) {
  const frame = h('div', { class: 'network-frame' });
  figure.replaceChildren(frame);
  let placedGraph = null;
  let lastWidth = 0;

  function draw() {
    if (!placedGraph || !frame.isConnected) return;
    const width = Math.round(frame.clientWidth || 640);
    if (width === lastWidth) return;
    lastWidth = width;
    const height = nodes.length <= 3 ? 180 : Math.round(Math.max(260, Math.min(440, width * 0.62)));
    const xs = placedGraph.nodes.map((n) => n.x);
    const ys = placedGraph.nodes.map((n) => n.y);
    const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const margin = 46;
    const scale = Math.min(
      (width - 2 * margin) / Math.max(maxX - minX, 1),
      (height - 2 * margin) / Math.max(maxY - minY, 1),
      1.6,
    );
    const cx = (minX + maxX) / 2;
    const cy = (minY + maxY) / 2;
    const at = (n) => ({ x: width / 2 + (n.x - cx) * scale, y: height / 2 + (n.y - cy) * scale });

    const root = svg('svg', {
      class: 'network', role: 'img', 'aria-label': label, width, height,
      viewBox: `0 0 ${width} ${height}`,
    });
    for (const l of placedGraph.links) {
      const a = at(l.source);
      const b = at(l.target);
      root.append(svg('line', {
        class: `edge edge-${l.relation}${l.kind ? ` edge-${l.kind.toLowerCase()}` : ''}`,
        x1: a.x.toFixed(1), y1: a.y.toFixed(1), x2: b.x.toFixed(1), y2: b.y.toFixed(1),
      }));
    }
    const positioned = placedGraph.nodes.map((n) => ({ ...n, ...at(n) }));
    for (const n of positioned) {
      const dot = svg('circle', {
        class: `node node-${n.role}`, cx: n.x.toFixed(1), cy: n.y.toFixed(1),
        r: n.role === 'home' ? 9 : n.role === 'second' ? 5 : 7, 'data-place': n.id,
      }, svg('title', {}, n.name));
      if (n.role !== 'home' && onOpen) dot.addEventListener('click', () => onOpen(n.id, n.name));
      root.append(dot);
    }
    // Labels point away from the place in the middle, so they do not sit on the lines into it.
    const centre = positioned.find((n) => n.role === 'home') || { x: width / 2 };
    const labels = placeLabels(positioned.map((n) => ({
      ...n, text: n.name, priority: { home: 3, inside: 2, partner: 1 }[n.role] || 0,
      prefer: n.role === 'home' || n.role === 'inside' ? 'below' : n.x < centre.x - 1 ? 'left' : null,
    })), width, height);
    for (const l of labels) {
      root.append(svg('text', {
        class: `network-label network-label-${l.role}`, x: l.tx.toFixed(1), y: l.ty.toFixed(1),
        'text-anchor': l.anchor, 'dominant-baseline': 'central',
      }, l.text));
    }
    frame.replaceChildren(root);
  }

  let shown = false;
  const observer = new ResizeObserver(() => {
    if (!frame.isConnected) {
      if (shown) observer.disconnect();
      return;
    }
    shown = true;
    draw();
  });
  observer.observe(frame);
  layout(nodes, links).then((placed) => {
    placedGraph = placed;
    draw();
  });
}
