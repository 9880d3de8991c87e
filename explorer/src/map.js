// The world map: great-circle arcs between places, drawn with d3-geo on the bundled land shapes.

import { geoGraticule10, geoInterpolate, geoNaturalEarth1, geoPath } from 'd3-geo';

import { h, svg } from './dom.js';

let worldPromise = null;

/** The land and borders, loaded once from the server (never from another host). */
export function loadWorld() {
  if (!worldPromise) {
    const meta = document.querySelector('meta[name="citylinks:world"]');
    const url = meta ? meta.content : '/explorer/world.json';
    worldPromise = fetch(url)
      .then((response) => (response.ok ? response.json() : null))
      .catch(() => null);
  }
  return worldPromise;
}

/** Start fetching the map shapes early, while the GraphQL request is on its way. */
export function preloadWorld() {
  loadWorld();
}

/** The longitude to centre on: opposite the widest gap between the places, so no arc is cut. */
function centreLongitude(lons) {
  if (!lons.length) return 0;
  const sorted = [...new Set(lons.map((l) => ((l % 360) + 540) % 360 - 180))].sort((a, b) => a - b);
  if (sorted.length === 1) return sorted[0];
  let gapEnd = sorted[0];
  let widest = sorted[0] + 360 - sorted[sorted.length - 1];
  for (let i = 1; i < sorted.length; i += 1) {
    const gap = sorted[i] - sorted[i - 1];
    if (gap > widest) {
      widest = gap;
      gapEnd = sorted[i];
    }
  }
  const span = 360 - widest;
  return gapEnd + span / 2;
}

function relativeLongitude(lon, centre) {
  return ((lon - centre + 540) % 360) - 180;
}

/** What to fit in view: every arc, with a margin, and never closer in than a region's size. */
function fitTarget(points, arcs, centre) {
  const rel = points.map((p) => relativeLongitude(p.lon, centre));
  const lats = points.map((p) => p.lat);
  let [west, east] = [Math.min(...rel), Math.max(...rel)];
  let [south, north] = [Math.min(...lats), Math.max(...lats)];
  const padLon = Math.max(8, (east - west) * 0.12);
  const padLat = Math.max(6, (north - south) * 0.15);
  west -= padLon; east += padLon; south -= padLat; north += padLat;
  const widen = (lo, hi, min) => {
    const missing = min - (hi - lo);
    return missing > 0 ? [lo - missing / 2, hi + missing / 2] : [lo, hi];
  };
  [west, east] = widen(west, east, 70);
  [south, north] = widen(south, north, 34);
  west = Math.max(west, -179.9); east = Math.min(east, 179.9);
  south = Math.max(south, -85); north = Math.min(north, 85);
  const corners = [[west, south], [west, north], [east, south], [east, north], [0, south], [0, north]]
    .map(([lon, lat]) => [lon + centre, lat]);
  return {
    type: 'FeatureCollection',
    features: [
      { type: 'Feature', geometry: { type: 'MultiPoint', coordinates: corners } },
      ...arcs.map((a) => ({ type: 'Feature', geometry: lineOf(a) })),
    ],
  };
}

function lineOf(arc) {
  return { type: 'LineString', coordinates: [[arc.from.lon, arc.from.lat], [arc.to.lon, arc.to.lat]] };
}

let measurer = null;

/** The width of a label in pixels, measured with the page's own font. */
function textWidth(text, weight, size) {
  if (!measurer) measurer = document.createElement('canvas').getContext('2d');
  const family = getComputedStyle(document.body).fontFamily || 'sans-serif';
  measurer.font = `${weight} ${size}px ${family}`;
  return measurer.measureText(text).width;
}

/** Place labels greedily, most important first, trying four sides of each point and
 * dropping those that would cover another point or label (the list below has them all). */
export function placeLabels(items, width, height) {
  const placed = [];
  const boxes = items.map((item) => ({ x: item.x - 6, y: item.y - 6, w: 12, h: 12 }));
  const overlaps = (b) => boxes.some((o) => b.x < o.x + o.w && o.x < b.x + b.w
    && b.y < o.y + o.h && o.y < b.y + b.h);
  for (const item of [...items].sort((a, b) => (b.priority || 0) - (a.priority || 0))) {
    const strong = item.role === 'home';
    const w = textWidth(item.text, strong ? 700 : 400, strong ? 13 : 12) + 6;
    const hgt = 16;
    const right = { x: item.x + 9, y: item.y - hgt / 2, anchor: 'start' };
    const left = { x: item.x - 9 - w, y: item.y - hgt / 2, anchor: 'end' };
    const above = { x: item.x - w / 2, y: item.y - 10 - hgt, anchor: 'middle' };
    const below = { x: item.x - w / 2, y: item.y + 10, anchor: 'middle' };
    const options = item.prefer === 'below' ? [below, above, right, left]
      : item.prefer === 'left' ? [left, right, above, below] : [right, left, above, below];
    const inside = options.filter((o) => o.x >= 2 && o.y >= 2 && o.x + w <= width - 2
      && o.y + hgt <= height - 2);
    // The place the picture is about is always named, where it must overlap (a hub is
    // ringed by its partners); the others only where their name fits.
    const free = inside.find((o) => !overlaps({ x: o.x, y: o.y, w, h: hgt }));
    const o = free || (strong ? inside[0] : undefined);
    if (!o) continue;
    boxes.push({ x: o.x, y: o.y, w, h: hgt });
    const tx = o.anchor === 'start' ? o.x + 3 : o.anchor === 'end' ? o.x + w - 3 : o.x + w / 2;
    placed.push({ ...item, tx, ty: o.y + hgt / 2, anchor: o.anchor });
  }
  return placed;
}

/**
 * Draw the map into `figure`. points: [{id, name, lat, lon, role: 'home'|'inside'|'partner'}];
 * arcs: [{id, from: point, to: point, kind, status}]. `label` is the accessible name.
 */
export function renderMap(figure, { points, arcs, label }) {
  const frame = h('div', { class: 'map-frame' });
  figure.replaceChildren(frame);
  let lastWidth = 0;

  async function draw() {
    const width = Math.round(frame.clientWidth || 640);
    if (width === lastWidth) return;
    lastWidth = width;
    const height = Math.round(Math.max(220, Math.min(520, width * 0.56)));
    const world = await loadWorld();

    // Along each great circle, not only at its ends: an arc across the Pacific or over the
    // pole must not be cut at the map's edge.
    const along = arcs.flatMap((a) => {
      const at = geoInterpolate([a.from.lon, a.from.lat], [a.to.lon, a.to.lat]);
      return Array.from({ length: 17 }, (_, i) => at(i / 16)[0]);
    });
    const centre = centreLongitude([...points.map((p) => p.lon), ...along]);
    const projection = geoNaturalEarth1().rotate([-centre, 0]).precision(0.2);
    projection.fitExtent([[12, 12], [width - 12, height - 12]], fitTarget(points, arcs, centre));
    const path = geoPath(projection);

    const root = svg('svg', {
      class: 'map', role: 'img', 'aria-label': label, width, height,
      viewBox: `0 0 ${width} ${height}`, 'data-centre': centre.toFixed(1),
    });
    root.append(svg('rect', { class: 'map-ocean', x: 0, y: 0, width, height }));
    root.append(svg('path', { class: 'map-graticule', d: path(geoGraticule10()) }));
    if (world) {
      root.append(svg('path', { class: 'map-land', d: path(world.land) }));
      root.append(svg('path', { class: 'map-borders', d: path(world.borders) }));
    }
    for (const arc of arcs) {
      root.append(svg('path', {
        class: `arc arc-${arc.kind.toLowerCase()}${arc.status === 'ACTIVE' ? '' : ' arc-pending'}`,
        d: path(lineOf(arc)),
        'data-partner': arc.id,
        'data-from': `${arc.from.lon},${arc.from.lat}`,
        'data-to': `${arc.to.lon},${arc.to.lat}`,
      }));
    }
    const projected = points.map((p) => {
      const xy = projection([p.lon, p.lat]);
      return xy ? { ...p, x: xy[0], y: xy[1] } : null;
    }).filter((p) => p && p.x >= 0 && p.y >= 0 && p.x <= width && p.y <= height);
    const rank = { partner: 0, inside: 1, home: 2 };
    // The place itself on top: a city inside a province often shares its coordinates.
    for (const p of [...projected].sort((a, b) => rank[a.role] - rank[b.role])) {
      root.append(svg('circle', {
        class: `point point-${p.role}`, cx: p.x.toFixed(1), cy: p.y.toFixed(1),
        r: p.role === 'home' ? 6 : 4.5, 'data-place': p.id,
      }));
    }
    const labels = placeLabels(projected.map((p) => ({
      ...p, text: p.name, priority: p.role === 'home' ? 2 : p.role === 'inside' ? 1 : 0,
    })), width, height);
    for (const l of labels) {
      root.append(svg('text', {
        class: `map-label map-label-${l.role}`, x: l.tx.toFixed(1), y: l.ty.toFixed(1),
        'text-anchor': l.anchor, 'dominant-baseline': 'central',
      }, l.text));
    }
    frame.replaceChildren(root);
    // When the picture is there: the browser tests measure a view's drawing up to here.
    performance.mark('citylinks:map-drawn');
  }

  // Drawn at the frame's real width (so text stays legible on a phone), again when it
  // changes, and never again once the view is gone.
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
}
