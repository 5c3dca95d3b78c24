// The city's lights on a plain SVG map: no tiles, no CDN. Lights are projected with Web
// Mercator (a 256-pixel world at zoom 0).
// Below zoom CLUSTER_BELOW the page draws /api/clusters.geojson: PostgreSQL has grouped the
// lights of the view (bbox, padded by PAD of the view on each side) on a grid of CELL pixels
// at the page's zoom, each cluster with its count, faults and worst state at the centroid of
// its lights; a whole city never comes to the browser. The first request is zoom 0 for the
// city's extent (the answer's bbox), which the page fits.
// From CLUSTER_BELOW on it draws /api/lights.geojson and groups those lights on its own
// screen grid of CELL pixels: a cell holding more than one light is drawn as a cluster with
// its count and the colour of its worst state; a cell with one light is that light. It asks
// again when the view leaves the box last fetched, is zoomed in past it, or, for clusters,
// at another zoom (a cluster is one zoom's cell).
"use strict";

const CELL = 44;
const MAX_ZOOM = 22;
const REFRESH_MS = 60000;
const PAD = 0.5;
const SETTLE_MS = 250;              // one request when a pan or a wheel spin comes to rest
// at 16 a padded 1200 x 800 view is ~5.7 x 3.8 km: 6,272 of a 50,000-light city
// (docs/fleet.md), few enough to send as lights; below it the server clusters
const CLUSTER_BELOW = 16;
// worst first: a cluster takes the colour of its worst light
const STATES = [
  ["lampFailure", "#d7191c", "lamp failure"], ["dayBurning", "#f28e2b", "day burning"],
  ["cycling", "#8e44ad", "cycling"], ["fault", "#e377c2", "other fault"],
  ["communication", "#607d8b", "communication"], ["ok", "#1a9641", "healthy"],
  ["never_reported", "#bdbdbd", "never reported"]];
const RANK = Object.fromEntries(STATES.map((s, i) => [s[0], i]));
const COLOUR = Object.fromEntries(STATES.map((s) => [s[0], s[1]]));
const SVG = "http://www.w3.org/2000/svg";

const view = { mode: "lights", lights: [], clusters: [], extent: null, cx: 128, cy: 128,
               zoom: 0, fitZoom: 0, box: null, boxZoom: 0, asked: 0, settle: null };
const svg = document.getElementById("map");

function world(lon, lat) {          // Web Mercator at zoom 0: 0..256 both ways
  const s = Math.sin((Math.max(-85, Math.min(85, lat)) * Math.PI) / 180);
  return [((lon + 180) / 360) * 256, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * 256];
}

function lonLat(x, y) {             // world() backwards
  const n = Math.PI * (1 - (2 * y) / 256);
  return [(x / 256) * 360 - 180, (Math.atan(Math.sinh(n)) * 180) / Math.PI];
}

function viewBox(pad) {             // [west, south, east, north] of the view, padded
  const [w, h] = size(), scale = 2 ** view.zoom;
  const dx = (w / 2 / scale) * (1 + 2 * pad), dy = (h / 2 / scale) * (1 + 2 * pad);
  const [west, north] = lonLat(Math.max(0, view.cx - dx), Math.max(0, view.cy - dy));
  const [east, south] = lonLat(Math.min(256, view.cx + dx), Math.min(256, view.cy + dy));
  return [west, south, east, north];
}

function inside(a, b) {             // box a within box b
  return b !== null && a[0] >= b[0] && a[1] >= b[1] && a[2] <= b[2] && a[3] <= b[3];
}

function stale() {                  // whether the view needs another answer than it has
  const clusters = view.zoom < CLUSTER_BELOW && view.extent !== null;
  if (clusters !== (view.mode === "clusters") || !inside(viewBox(0), view.box)) return true;
  return clusters ? view.zoom !== view.boxZoom : view.zoom >= view.boxZoom + 2;
}

function moved() {                  // after a pan or zoom: fetch the view's picture if needed
  clearTimeout(view.settle);
  view.settle = setTimeout(() => { if (stale()) load(); }, SETTLE_MS);
}

function stateOf(props) {           // the light's worst state, by RANK
  if (props.state !== "fault") return props.state;
  let best = null;
  for (const kind of props.faults) {
    const k = kind in RANK ? kind : "fault";
    if (best === null || RANK[k] < RANK[best]) best = k;
  }
  return best || "fault";
}

function size() {
  const box = svg.getBoundingClientRect();
  return [box.width || 800, box.height || 600];
}

function fit() {                    // the whole city (the extent of its placed lights) in view
  if (!view.extent) return;
  const [w, h] = size(), [west, south, east, north] = view.extent;
  const [x0, y0] = world(west, north), [x1, y1] = world(east, south);
  view.cx = (x0 + x1) / 2;
  view.cy = (y0 + y1) / 2;
  const span = Math.max((x1 - x0) / (w - 2 * CELL), (y1 - y0) / (h - 2 * CELL), 1e-9);
  view.fitZoom = view.zoom = Math.max(0, Math.min(MAX_ZOOM, Math.floor(-Math.log2(span))));
}

function element(name, attrs, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function cells() {                  // grid clustering of the lights in view
  const [w, h] = size();
  const scale = 2 ** view.zoom, grid = new Map();
  for (const light of view.lights) {
    const px = (light.x - view.cx) * scale + w / 2, py = (light.y - view.cy) * scale + h / 2;
    if (px < -CELL || py < -CELL || px > w + CELL || py > h + CELL) continue;
    const key = Math.floor(px / CELL) + "," + Math.floor(py / CELL);
    let cell = grid.get(key);
    if (!cell) grid.set(key, (cell = { n: 0, sx: 0, sy: 0, worst: "never_reported",
                                       faults: 0, light: null }));
    cell.n += 1;
    cell.sx += px;
    cell.sy += py;
    cell.light = light;
    if (light.props.state === "fault") cell.faults += 1;
    if (RANK[light.state] < RANK[cell.worst]) cell.worst = light.state;
  }
  return grid.values();
}

function clusterMark(x, y, n, faults, worst) {
  const r = Math.min(CELL / 2 - 2, 10 + 3 * Math.log10(n));
  const g = element("g", { class: "cluster-group" });
  const c = element("circle", { cx: x, cy: y, r: r.toFixed(1), class: "cluster",
    fill: COLOUR[worst], "data-count": n, "data-faults": faults, "data-state": worst });
  c.append(element("title", {}, `${n} ${n === 1 ? "light" : "lights"}, ${faults} with a fault`));
  c.addEventListener("click", () => zoomAt(+x, +y, Math.min(MAX_ZOOM, view.zoom + 2)));
  g.append(c, element("text", { x, y }, String(n)));
  svg.append(g);
}

function drawClusters() {           // the server's clusters, each at its centroid
  const [w, h] = size(), scale = 2 ** view.zoom;
  let shown = 0;
  for (const c of view.clusters) {
    const px = (c.x - view.cx) * scale + w / 2, py = (c.y - view.cy) * scale + h / 2;
    if (px < -CELL || py < -CELL || px > w + CELL || py > h + CELL) continue;
    clusterMark(px.toFixed(1), py.toFixed(1), c.count, c.faults, c.worst);
    shown += 1;
  }
  return shown;
}

function draw() {
  svg.replaceChildren();
  let clusters = 0, singles = 0;
  if (view.mode === "clusters") clusters = drawClusters();
  for (const cell of view.mode === "lights" ? cells() : []) {
    const x = (cell.sx / cell.n).toFixed(1), y = (cell.sy / cell.n).toFixed(1);
    if (cell.n === 1) {
      const l = cell.light, dot = element("circle", { cx: x, cy: y, r: 7, class: "light",
        fill: COLOUR[l.state], "data-id": l.id, "data-state": l.state });
      dot.append(element("title", {}, `${l.id} ${l.props.pole_id || ""}: ${l.state}`));
      dot.addEventListener("click", () => detail(l));
      svg.append(dot);
      singles += 1;
      continue;
    }
    clusterMark(x, y, cell.n, cell.faults, cell.worst);
    clusters += 1;
  }
  svg.dataset.zoom = view.zoom;
  svg.dataset.mode = view.mode;
  svg.dataset.clusters = clusters;
  svg.dataset.singles = singles;
  document.getElementById("zoom-level").textContent = `zoom ${view.zoom}`;
}

function zoomAt(px, py, zoom) {     // keep the world point under (px, py) where it is
  const [w, h] = size(), before = 2 ** view.zoom, after = 2 ** zoom;
  const wx = view.cx + (px - w / 2) / before, wy = view.cy + (py - h / 2) / before;
  view.cx = wx - (px - w / 2) / after;
  view.cy = wy - (py - h / 2) / after;
  view.zoom = zoom;
  draw();
  moved();
}

function detail(light) {
  const box = document.getElementById("detail"), dl = document.createElement("dl");
  const p = light.props;
  for (const [k, v] of [["light", light.id], ["pole", p.pole_id], ["group", p.group],
    ["office", p.office], ["state", light.state], ["faults", p.faults.join(", ")],
    ["reading", p.reading_ts], ["power W", p.power], ["lamp", p.lamp_state],
    ["gateway", p.gateway_state]]) {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = v === null || v === undefined || v === "" ? "–" : String(v);
    dl.append(dt, dd);
  }
  box.replaceChildren(dl);
}

function legend(counts) {
  const ul = document.getElementById("legend");
  ul.replaceChildren(...STATES.map(([key, colour, label]) => {
    const li = document.createElement("li"), dot = document.createElement("span");
    dot.style.background = colour;
    li.append(dot, `${label}: ${counts[key] || 0}`);
    li.dataset.state = key;
    return li;
  }));
}

async function ask(url) {           // the answer's document, or null (already reported)
  const asked = ++view.asked;
  let answer, doc;
  try {
    answer = await fetch(url);
    doc = await answer.json();
  } catch (err) {                   // the server is away: keep the last picture, say so
    document.getElementById("summary").textContent = `cannot load the lights: ${err}`;
    return null;
  }
  if (asked !== view.asked) return null;  // a newer request was made meanwhile: it counts
  if (answer.status === 401) {      // the session ended
    window.location.assign("/login");
    return null;
  }
  if (!answer.ok) {
    document.getElementById("summary").textContent = `error: ${doc.error}`;
    return null;
  }
  return doc;
}

function shown(box, features, counts, summary) {
  document.getElementById("summary").textContent = summary;
  legend(counts);
  draw();
  svg.dataset.ready = "1";
  svg.dataset.loaded = String(view.asked);
  svg.dataset.bbox = box ? box.join(",") : "";
  svg.dataset.features = String(features);
  svg.dataset.answered = String(view.boxZoom);     // the zoom the answer was asked at
}

function query(box) {
  return box.map((v) => v.toFixed(6)).join(",");
}

async function loadClusters() {
  const box = viewBox(PAD), zoom = view.zoom;
  const doc = await ask(`/api/clusters.geojson?zoom=${zoom}&bbox=${query(box)}`);
  if (doc === null) return;
  const counts = {};
  let lights = 0, faulty = 0;
  view.clusters = doc.features.map((f) => {
    const [x, y] = world(f.geometry.coordinates[0], f.geometry.coordinates[1]);
    const p = f.properties;
    for (const [state, n] of Object.entries(p.states)) counts[state] = (counts[state] || 0) + n;
    lights += p.count;
    faulty += p.faults;
    return { x, y, count: p.count, faults: p.faults, worst: p.worst };
  });
  view.mode = "clusters";
  view.lights = [];
  view.box = box;
  view.boxZoom = zoom;
  shown(box, doc.features.length, counts, `${lights} lights in this area, ${faulty} with an ` +
        `open fault (${doc.features.length} clusters; zoom in for single lights)`);
}

async function loadLights() {       // the whole city at its own zoom, else the view's box
  const box = view.zoom > view.fitZoom ? viewBox(PAD) : null;
  const doc = await ask("/api/lights.geojson" + (box ? "?bbox=" + query(box) : ""));
  if (doc === null) return;
  const counts = {};
  view.lights = doc.features.filter((f) => f.geometry).map((f) => {
    const [x, y] = world(f.geometry.coordinates[0], f.geometry.coordinates[1]);
    const state = stateOf(f.properties);
    counts[state] = (counts[state] || 0) + 1;
    return { id: f.id, x, y, props: f.properties, state };
  });
  view.mode = "lights";
  view.clusters = [];
  view.box = doc.truncated ? null : (box || [-180, -90, 180, 90]);
  view.boxZoom = view.zoom;
  const faulty = doc.features.filter((f) => f.properties.state === "fault").length;
  shown(box, doc.features.length, counts, `${doc.features.length} lights` +
    `${box ? " in this area" : ""}, ${faulty} with an open fault, ` +
    `${doc.features.length - view.lights.length} without a position` +
    `${doc.truncated ? " (truncated)" : ""}`);
}

async function loadExtent() {       // where the city is: the bbox of its one zoom-0 cluster
  const doc = await ask("/api/clusters.geojson?zoom=0");
  if (doc === null) return;
  view.extent = doc.bbox || null;   // none: no light has a position yet
  fit();
  await load();
}

function load() {
  return view.zoom < CLUSTER_BELOW && view.extent ? loadClusters() : loadLights();
}

async function who() {              // the log-out form carries the session's CSRF token
  try {
    const me = await (await fetch("/api/session.json")).json();
    if (me.name) {
      document.getElementById("who").textContent = me.name;
      document.getElementById("csrf").value = me.csrf;
      document.getElementById("logout").hidden = false;
    }
  } catch (err) {                   // no log-out button then; the map still works
    document.getElementById("who").textContent = "";
  }
}

function wire() {
  document.getElementById("zoom-in").onclick = () =>
    zoomAt(size()[0] / 2, size()[1] / 2, Math.min(MAX_ZOOM, view.zoom + 1));
  document.getElementById("zoom-out").onclick = () =>
    zoomAt(size()[0] / 2, size()[1] / 2, Math.max(0, view.zoom - 1));
  document.getElementById("zoom-all").onclick = () => { fit(); draw(); moved(); };
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const box = svg.getBoundingClientRect(), step = e.deltaY < 0 ? 1 : -1;
    zoomAt(e.clientX - box.left, e.clientY - box.top,
           Math.max(0, Math.min(MAX_ZOOM, view.zoom + step)));
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (e) => { drag = [e.clientX, e.clientY]; });
  window.addEventListener("pointerup", () => { drag = null; });
  svg.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const scale = 2 ** view.zoom;
    view.cx -= (e.clientX - drag[0]) / scale;
    view.cy -= (e.clientY - drag[1]) / scale;
    drag = [e.clientX, e.clientY];
    draw();
    moved();
  });
  window.addEventListener("resize", draw);
}

wire();
who();
loadExtent();
setInterval(() => (view.extent ? load() : loadExtent()), REFRESH_MS);
