// The zoomable world map: flows between countries at world zoom, one great-circle arc per
// partnership once zoomed in (or once a filter makes them few); pan and zoom by mouse, touch
// and keyboard. Zooming moves one transformed layer, so it never redraws the world per frame.

import { geoGraticule10, geoNaturalEarth1, geoPath } from 'd3-geo';
import { select } from 'd3-selection';
import { zoom, zoomIdentity } from 'd3-zoom';

import { h, svg } from './dom.js';
import { loadWorld } from './map.js';

const ARCS_FROM_ZOOM = 3;
const MAX_ZOOM = 16;

function number(n) {
  return n.toLocaleString('en-US');
}

/** The area in view, in degrees, from a few points of the viewport taken back to the globe. */
function visibleBox(projection, transform, width, height) {
  const lons = [];
  const lats = [];
  for (let i = 0; i <= 6; i += 1) {
    for (let j = 0; j <= 6; j += 1) {
      const [x, y] = transform.invert([(width * i) / 6, (height * j) / 6]);
      const lonLat = projection.invert([x, y]);
      if (!lonLat || !Number.isFinite(lonLat[0]) || !Number.isFinite(lonLat[1])) continue;
      lons.push(lonLat[0]);
      lats.push(lonLat[1]);
    }
  }
  const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));
  return {
    south: clamp(Math.min(...lats) - 1, -90, 90),
    north: clamp(Math.max(...lats) + 1, -90, 90),
    west: clamp(Math.min(...lons) - 1, -180, 180),
    east: clamp(Math.max(...lons) + 1, -180, 180),
  };
}

/**
 * Draw into `figure`. flows: [{a: point, b: point, count}] with point {code, name, lat, lon};
 * points: [{code, name, lat, lon, count}]; arcs: every matching partnership's arc when they
 * are few enough to have come with the view ([{id, names, coordinates}]), else null and
 * `loadArcs(box)` fetches those of the area zoomed in on. `label` names the map; `centre` is
 * the longitude in the middle.
 */
export function renderWorldMap(figure, { flows, points, arcs, total, label, loadArcs, centre = 0 }) {
  const status = h('p', { class: 'map-status', role: 'status' });
  const viewport = h('div', {
    class: 'map-viewport', tabindex: '0', role: 'group',
    'aria-label': 'Map controls: arrow keys move the map, plus and minus zoom, 0 resets',
  });
  const button = (text, action) => h('button', { type: 'button', class: 'button button-quiet', onclick: action }, text);
  const controls = h('div', { class: 'map-controls' },
    button('Zoom in', () => zoomBy(2)), button('Zoom out', () => zoomBy(0.5)),
    button('Whole world', () => reset()));
  const legend = h('ul', { class: 'legend' },
    h('li', {}, h('span', { class: 'legend-swatch', 'aria-hidden': 'true' }),
      'a line between two countries, thicker for more partnerships (one arc per partnership when zoomed in)'),
    h('li', {}, h('span', { class: 'legend-swatch dot', 'aria-hidden': 'true' }),
      'a country, larger for more partnerships (a place, when zoomed in)'));
  // The arcs drawn, in words (the flows have their list beside the map).
  const arcList = h('details', { class: 'arc-list', hidden: true },
    h('summary', {}, 'The partnerships drawn, as a list'), h('ul', {}));
  figure.replaceChildren(controls, viewport, status, arcList, legend);

  let behaviour = null;
  let selection = null;
  let layer = null;
  let arcLayer = null;
  let flowLayer = null;
  let dotLayer = null;
  let dots = [];
  let projection = null;
  let size = { width: 0, height: 0 };
  let loadTimer = null;
  let loadedFor = null;
  let requestNumber = 0;
  const maxCount = Math.max(1, ...flows.map((f) => f.count));
  const maxPoint = Math.max(1, ...points.map((p) => p.count));

  function zoomBy(factor) {
    if (behaviour) selection.call(behaviour.scaleBy, factor);
  }
  function reset() {
    if (behaviour) selection.call(behaviour.transform, zoomIdentity);
  }

  function drawArcs(list, note, k) {
    // The places too, small whatever the zoom (the layer is scaled by k).
    const path = geoPath(projection).pointRadius(2.2 / Math.sqrt(k));
    const lines = list.map((a) => [[a.coordinates[0], a.coordinates[1]], [a.coordinates[2], a.coordinates[3]]]);
    arcLayer.replaceChildren(
      svg('path', { class: 'flow-arc', d: path({ type: 'MultiLineString', coordinates: lines }) || '' }),
      svg('path', { class: 'arc-ends', d: path({ type: 'MultiPoint', coordinates: lines.flat() }) || '' }));
    arcLayer.dataset.arcs = String(list.length);
    const shown = list.slice(0, 300);
    arcList.querySelector('ul').replaceChildren(
      ...shown.map((a) => h('li', {}, `${a.names[0]} – ${a.names[1]}`)),
      ...(list.length > shown.length ? [h('li', {}, `and ${number(list.length - shown.length)} more`)] : []));
    arcList.hidden = false;
    arcLayer.style.display = '';
    flowLayer.style.display = 'none';
    dotLayer.style.display = 'none';
    status.textContent = note;
  }

  function showFlows() {
    arcLayer.style.display = 'none';
    arcList.hidden = true;
    flowLayer.style.display = '';
    dotLayer.style.display = '';
    status.textContent = `World view: the ${number(flows.length)} strongest flows between countries, `
      + `for ${number(total)} partnerships. Zoom in to see one arc per partnership.`;
  }

  function settle(transform) {
    for (const dot of dots) dot.setAttribute('r', (Number(dot.dataset.r) / transform.k).toFixed(2));
    viewport.dataset.zoom = transform.k.toFixed(2);
    const zoomedIn = transform.k >= ARCS_FROM_ZOOM;
    if (arcs && (zoomedIn || arcs.length >= total)) {
      drawArcs(arcs, `One arc per partnership: ${number(arcs.length)} of ${number(total)}`
        + `${arcs.length < total ? ', those between the best-connected places' : ''}.`, transform.k);
      return;
    }
    if (!zoomedIn || !loadArcs) {
      showFlows();
      return;
    }
    const box = visibleBox(projection, transform, size.width, size.height);
    const key = JSON.stringify(box);
    if (key === loadedFor) return;
    clearTimeout(loadTimer);
    status.textContent = 'Loading the partnerships in this area…';
    // Only once the map stops moving: one request per look, not one per frame.
    loadTimer = setTimeout(async () => {
      const mine = (requestNumber += 1);
      try {
        const list = await loadArcs(box);
        if (mine !== requestNumber || !arcLayer.isConnected) return;
        loadedFor = key;
        drawArcs(list, `One arc per partnership in this area: ${number(list.length)}`
          + `${list.length >= 1000 ? ' (the 1,000 between the best-connected places; zoom in further for the rest)' : ''}.`, transform.k);
      } catch {
        if (mine === requestNumber) status.textContent = 'The partnerships of this area could not be loaded; the flows between countries stay shown.';
        showFlows();
      }
    }, 300);
  }

  async function draw() {
    const width = Math.round(viewport.clientWidth || 640);
    if (width === size.width) return;
    const height = Math.round(width * 0.52);
    size = { width, height };
    const world = await loadWorld();
    // A country's view turns the globe to put the country in the middle: its arcs across
    // an ocean are not cut at the map's edge.
    projection = geoNaturalEarth1().rotate([-centre, 0])
      .fitExtent([[4, 4], [width - 4, height - 4]], { type: 'Sphere' });
    const path = geoPath(projection);
    const root = svg('svg', {
      class: 'map', role: 'img', 'aria-label': label, width, height, viewBox: `0 0 ${width} ${height}`,
    });
    layer = svg('g', { class: 'zoom-layer' });
    layer.append(svg('path', { class: 'map-ocean', d: path({ type: 'Sphere' }) }));
    layer.append(svg('path', { class: 'map-graticule', d: path(geoGraticule10()) }));
    if (world) {
      layer.append(svg('path', { class: 'map-land', d: path(world.land) }));
      layer.append(svg('path', { class: 'map-borders', d: path(world.borders) }));
    }
    flowLayer = svg('g', { class: 'flows', 'data-flows': String(flows.length) });
    for (const f of flows) {
      flowLayer.append(svg('path', {
        class: 'flow', d: path({ type: 'LineString', coordinates: [[f.a.lon, f.a.lat], [f.b.lon, f.b.lat]] }) || '',
        'stroke-width': (0.8 + 7 * Math.sqrt(f.count / maxCount)).toFixed(2),
        'data-pair': `${f.a.code}-${f.b.code}`,
      }));
    }
    arcLayer = svg('g', { class: 'arcs' });
    dotLayer = svg('g', { class: 'country-dots' });
    dots = [];
    for (const p of points) {
      const xy = projection([p.lon, p.lat]);
      if (!xy) continue;
      const r = (2 + 7 * Math.sqrt(p.count / maxPoint)).toFixed(2);
      const dot = svg('circle', { class: 'country-dot', cx: xy[0].toFixed(1), cy: xy[1].toFixed(1), r, 'data-r': r, 'data-country': p.code });
      dots.push(dot);
      dotLayer.append(dot);
    }
    layer.append(flowLayer, arcLayer, dotLayer);
    root.append(layer);
    viewport.replaceChildren(root);

    selection = select(viewport);
    behaviour = zoom()
      .scaleExtent([1, MAX_ZOOM])
      .translateExtent([[0, 0], [width, height]])
      .extent([[0, 0], [width, height]])
      .on('zoom', (event) => layer.setAttribute('transform', event.transform.toString()))
      .on('end', (event) => settle(event.transform));
    selection.call(behaviour);
    selection.on('dblclick.zoom', null);
    loadedFor = null;
    // The land first, the arcs in a task of their own: on a phone each takes a good part of
    // what one task may take before a tap waits for it.
    await new Promise((resolve) => { setTimeout(resolve, 0); });
    if (root !== viewport.firstChild) return;
    settle(zoomIdentity);
    // When the picture is there: the browser tests measure a view's drawing up to here.
    performance.mark('citylinks:map-drawn');
  }

  viewport.addEventListener('keydown', (event) => {
    if (!behaviour) return;
    const step = 60;
    const moves = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    if (moves[event.key]) {
      const t = select(viewport).property('__zoom') || zoomIdentity;
      selection.call(behaviour.translateBy, moves[event.key][0] / t.k, moves[event.key][1] / t.k);
    } else if (event.key === '+' || event.key === '=') zoomBy(2);
    else if (event.key === '-' || event.key === '_') zoomBy(0.5);
    else if (event.key === '0') reset();
    else return;
    event.preventDefault();
  });

  let shown = false;
  const observer = new ResizeObserver(() => {
    if (!viewport.isConnected) {
      if (shown) observer.disconnect();
      return;
    }
    shown = true;
    draw();
  });
  observer.observe(viewport);
}
