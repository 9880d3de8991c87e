// Builds the explorer into static/: one bundled script, the stylesheet, the page, and the
// world map converted from world-atlas. The output is committed, so installing citylinks
// never runs this; run it after changing src/ (see ../README.md).
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';
import { merge, mesh } from 'topojson-client';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
// EXPLORER_OUT: build elsewhere (the test that checks static/ is up to date with src/ does).
const out = process.env.EXPLORER_OUT || join(root, 'static');
const GRAPHIQL_FILES = [
  'react/umd/react.production.min.js',
  'react-dom/umd/react-dom.production.min.js',
  'js-cookie/dist/js.cookie.min.js',
  'graphiql/graphiql.min.css',
  'graphiql/graphiql.min.js',
  '@graphiql/plugin-explorer/dist/style.css',
  '@graphiql/plugin-explorer/dist/index.umd.js',
];
const require = (path) => JSON.parse(readFileSync(join(root, 'node_modules', path), 'utf8'));

function digest(text) {
  return createHash('sha256').update(text).digest('hex').slice(0, 10);
}

// Land as one shape and the borders between countries as lines: all the map draws.
// Two decimals (about 1 km) is finer than the 1:110m source already is.
function worldMap() {
  const topo = require('world-atlas/countries-110m.json');
  const round = (c) => (typeof c[0] === 'number'
    ? [Math.round(c[0] * 100) / 100, Math.round(c[1] * 100) / 100]
    : c.map(round));
  const land = merge(topo, topo.objects.countries.geometries);
  const borders = mesh(topo, topo.objects.countries, (a, b) => a !== b);
  return JSON.stringify({
    source: 'Natural Earth 1:110m via world-atlas 2.0.2 (public domain)',
    land: { type: land.type, coordinates: round(land.coordinates) },
    borders: { type: borders.type, coordinates: round(borders.coordinates) },
  });
}

async function main() {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });

  const bundle = await esbuild.build({
    entryPoints: [join(src, 'app.js')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2020'],
    legalComments: 'none',
    write: false,
  });
  const script = bundle.outputFiles[0].text;
  const style = readFileSync(join(src, 'style.css'), 'utf8');
  const world = worldMap();
  const licences = [
    'The citylinks explorer bundles these libraries, each under its licence:',
    ...['d3-geo', 'd3-force', 'd3-zoom', 'd3-selection', 'd3-transition', 'd3-interpolate', 'd3-color', 'd3-ease', 'd3-drag', 'd3-array', 'd3-dispatch', 'd3-quadtree', 'd3-timer', 'internmap']
      .map((name) => `- ${name} ${require(`${name}/package.json`).version}: ISC licence`),
    ...['react', 'react-dom', 'graphiql', '@graphiql/plugin-explorer']
      .map((name) => `- ${name} ${require(`${name}/package.json`).version} (vendor/, for GraphiQL): MIT licence`),
    `- js-cookie ${require('js-cookie/package.json').version} (vendor/, for GraphiQL): MIT licence`,
    `Map data: Natural Earth via world-atlas ${require('world-atlas/package.json').version}` +
      ' (public domain; world-atlas itself: ISC licence).',
    '',
  ].join('\n');

  writeFileSync(join(out, 'app.js'), script);
  writeFileSync(join(out, 'style.css'), style);
  writeFileSync(join(out, 'world.json'), world);
  writeFileSync(join(out, 'LICENSES.txt'), licences);
  // A version in each asset address, so a browser never mixes an old script with a new page.
  const page = readFileSync(join(src, 'index.html'), 'utf8')
    .replace('/explorer/app.js', `/explorer/app.js?v=${digest(script)}`)
    .replace('/explorer/style.css', `/explorer/style.css?v=${digest(style)}`)
    .replace('/explorer/world.json', `/explorer/world.json?v=${digest(world)}`);
  writeFileSync(join(out, 'index.html'), page);

  // GraphiQL, as Strawberry's page for it names it (the server points that page here
  // instead of at unpkg.com): the packages' own files, byte for byte, so the page's
  // integrity hashes hold and GraphiQL works on a closed network.
  for (const path of GRAPHIQL_FILES) {
    const name = path.startsWith('@') ? path.split('/').slice(0, 2).join('/') : path.split('/')[0];
    const { version } = require(`${name}/package.json`);
    const target = join(out, 'vendor', `${name}@${version}`, path.slice(name.length + 1));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(join(root, 'node_modules', path), target);
  }

  for (const name of readdirSync(out, { recursive: true }).sort()) {
    if (statSync(join(out, name)).isDirectory()) continue;
    const size = statSync(join(out, name)).size;
    console.log(`static/${name}  ${(size / 1024).toFixed(1)} KiB`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
