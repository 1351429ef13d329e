// sahit explore: the page behind `sahit explore`. Plain JavaScript, no build step; every image comes from
// the API (docs/explore.md). document.body.dataset.pending counts images still loading (tests wait on it).
"use strict";

const GRID = 8;  // samples shown: seeds seed .. seed + GRID - 1
const $ = (id) => document.getElementById(id);
const state = { info: null, cls: 0, seed: 0, truncation: null, off: new Set(), point: null, gridStart: 0 };
let pending = 0;

function setPending(delta) {
  pending += delta;
  document.body.dataset.pending = String(pending);
}

function fail(message) {
  $("status").textContent = message;
  console.error("sahit explore: " + message);
}

// Load url into img; resolves when it shows (or failed, reported once).
function load(img, url) {
  if (img.dataset.url === url && img.complete && img.naturalWidth > 0) return Promise.resolve();
  img.dataset.url = url;
  setPending(1);
  return new Promise((resolve) => {
    img.onload = () => { setPending(-1); resolve(); };
    img.onerror = () => {
      setPending(-1);
      if (img.dataset.url === url) fetch(url).then((r) => r.json())
        .then((body) => fail(body.error || "an image failed to load"), () => fail("an image failed to load: " + url));
      resolve();
    };
    img.src = url;
  });
}

function imageParams(seed) {
  const p = new URLSearchParams();
  if (state.info.num_classes) p.set("cls", String(state.cls));
  p.set("seed", String(seed));
  if (state.truncation !== null) p.set("truncation", state.truncation.toFixed(2));
  if (state.off.size) p.set("off", [...state.off].sort((a, b) => a - b).join(","));
  return p;
}

function url(path, params) { return path + "?" + params.toString(); }

function refreshGrid() {
  const imgs = $("grid").querySelectorAll("img");
  imgs.forEach((img, i) => {
    const seed = state.gridStart + i;
    img.dataset.seed = String(seed);
    img.classList.toggle("selected", seed === state.seed);
    img.alt = "sample, seed " + seed;
    load(img, url("/api/sample.png", imageParams(seed)));
  });
}

function refreshFocus() {
  load($("enlarged"), url("/api/sample.png", imageParams(state.seed)));
  refreshOverlays();
  refreshInterpolation();
}

function refreshAll() {
  writeHash();
  if (state.seed < state.gridStart || state.seed >= state.gridStart + GRID) state.gridStart = state.seed;
  refreshGrid();
  refreshFocus();
}

function refreshOverlays() {
  const box = $("overlays");
  if (!state.point) { box.replaceChildren(); return; }
  const [x, y] = state.point;
  $("hint").textContent = `query pixel (${x}, ${y}): where it attends, per layer`;
  state.info.layers.forEach((layer) => {
    let figure = box.querySelector(`figure[data-layer="${layer.index}"]`);
    if (!figure) {
      figure = document.createElement("figure");
      figure.dataset.layer = String(layer.index);
      const img = document.createElement("img");
      const caption = document.createElement("figcaption");
      figure.append(img, caption);
      box.append(figure);
    }
    const p = imageParams(state.seed);
    p.set("layer", String(layer.index));
    p.set("x", String(x));
    p.set("y", String(y));
    const img = figure.querySelector("img");
    img.alt = `where pixel (${x}, ${y}) attends in ${layer.name}`;
    const off = state.off.has(layer.index) ? " (knocked out: its map is still computed)" : "";
    figure.querySelector("figcaption").textContent =
      `${layer.name} · ${layer.kind} · ${layer.parts.join(" | ")} · query (${x}, ${y})${off}`;
    load(img, url("/api/attention.png", p));
  });
  $("download").disabled = false;
}

function refreshInterpolation() {
  const p = imageParams(state.seed);
  p.set("t", Number($("t").value).toFixed(2));
  if ($("interp-mode").value === "class") p.set("to_cls", $("to-cls").value);
  else p.set("to_seed", String(clampSeed($("to-seed").value)));
  $("t-value").textContent = Number($("t").value).toFixed(2);
  load($("interp"), url("/api/interpolate.png", p));
}

function clampSeed(value) {
  const n = Math.floor(Number(value));
  return Number.isFinite(n) ? Math.min(Math.max(n, 0), 2147483647) : 0;
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

// The enlarged image, then every overlay, on one canvas: image pixels stay sharp (no smoothing).
async function download() {
  const parts = [$("enlarged"), ...$("overlays").querySelectorAll("img")].filter((img) => img.naturalWidth > 0);
  const height = 256, gap = 8, label = 18;
  const widths = parts.map((img) => Math.round(img.naturalWidth * height / img.naturalHeight));
  const canvas = document.createElement("canvas");
  canvas.width = widths.reduce((a, b) => a + b, 0) + gap * (parts.length + 1);
  canvas.height = height + label + 2 * gap;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = "#222222";
  ctx.font = "12px sans-serif";
  let left = gap;
  const captions = ["image", ...[...$("overlays").querySelectorAll("figcaption")].map((c) => c.textContent)];
  parts.forEach((img, i) => {
    ctx.fillText((captions[i] || "").slice(0, Math.floor(widths[i] / 6)), left, gap + 12);
    ctx.drawImage(img, left, gap + label, widths[i], height);
    left += widths[i] + gap;
  });
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  const link = $("download-link");
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(blob);
  const name = `sahit-${state.info.family}-cls${state.cls}-seed${state.seed}` + (state.point ? `-x${state.point[0]}-y${state.point[1]}` : "");
  link.download = name + ".png";
  link.click();
}

function buildControls(info) {
  $("model").textContent = `${info.source} · ${info.family} · ${info.resolution}×${info.resolution} px · ` +
    `${info.num_classes || "no"} classes · ${info.layers.length} attention layer(s)`;
  for (const select of [$("cls"), $("to-cls")]) {
    info.class_names.forEach((name, k) => select.add(new Option(`${k}: ${name}`, String(k))));
  }
  if (!info.num_classes) $("cls").parentElement.classList.add("hidden");
  if (!info.num_classes || !info.soft_classes) $("interp-mode").options[1].disabled = true;
  $("to-cls").value = info.num_classes > 1 ? "1" : "0";
  $("to-cls-label").classList.add("hidden");
  for (let i = 0; i < GRID; i++) {
    const img = document.createElement("img");
    img.width = 64;
    img.height = 64;
    img.addEventListener("click", () => { state.seed = Number(img.dataset.seed); $("seed").value = String(state.seed); refreshAll(); });
    $("grid").append(img);
  }
  const box = $("knockouts");
  info.layers.filter((layer) => layer.knockable).forEach((layer) => {
    const label = document.createElement("label");
    const box_ = document.createElement("input");
    box_.type = "checkbox";
    box_.checked = true;
    box_.dataset.layer = String(layer.index);
    box_.addEventListener("change", () => {
      if (box_.checked) state.off.delete(layer.index); else state.off.add(layer.index);
      refreshAll();
    });
    label.append(box_, " " + layer.name);
    box.append(label, document.createElement("br"));
  });
  if (!box.querySelector("input")) box.append("(no attention layer to knock out)");
}

function wire() {
  $("cls").addEventListener("change", () => { state.cls = Number($("cls").value); refreshAll(); });
  $("seed").addEventListener("change", () => { state.seed = clampSeed($("seed").value); $("seed").value = String(state.seed); refreshAll(); });
  $("random").addEventListener("click", () => {
    state.seed = Math.floor(Math.random() * 2147483647);
    $("seed").value = String(state.seed);
    refreshAll();
  });
  const truncation = () => {
    state.truncation = $("use-truncation").checked ? Number($("truncation").value) : null;
    $("truncation").disabled = !$("use-truncation").checked;
    $("truncation-value").textContent = state.truncation === null ? "none" : state.truncation.toFixed(2);
    refreshAll();
  };
  $("use-truncation").addEventListener("change", truncation);
  $("truncation").addEventListener("input", debounce(truncation, 120));
  $("enlarged").addEventListener("click", (event) => {
    const img = $("enlarged"), r = state.info.resolution;
    const x = Math.min(r - 1, Math.max(0, Math.floor(event.offsetX * r / img.clientWidth)));
    const y = Math.min(r - 1, Math.max(0, Math.floor(event.offsetY * r / img.clientHeight)));
    state.point = [x, y];
    writeHash();
    refreshOverlays();
  });
  $("interp-mode").addEventListener("change", () => {
    const byClass = $("interp-mode").value === "class";
    $("to-cls-label").classList.toggle("hidden", !byClass);
    $("to-seed-label").classList.toggle("hidden", byClass);
    refreshInterpolation();
  });
  $("to-seed").addEventListener("change", refreshInterpolation);
  $("to-cls").addEventListener("change", refreshInterpolation);
  $("t").addEventListener("input", debounce(refreshInterpolation, 60));
  $("download").addEventListener("click", () => download().catch((e) => fail("download failed: " + e)));
}

// The state in the address (#cls=3&seed=5&truncation=1.00&off=0&x=12&y=6): a view can be bookmarked or shared.
function writeHash() {
  const p = imageParams(state.seed);
  if (state.point) { p.set("x", String(state.point[0])); p.set("y", String(state.point[1])); }
  history.replaceState(null, "", "#" + p.toString());
}

function readHash(info) {
  const p = new URLSearchParams(location.hash.slice(1));
  const int = (name, high) => {
    const v = Number(p.get(name));
    return p.has(name) && /^[0-9]+$/.test(p.get(name)) && v <= high ? v : null;
  };
  if (info.num_classes && int("cls", info.num_classes - 1) !== null) state.cls = int("cls", info.num_classes - 1);
  if (int("seed", 2147483647) !== null) state.seed = int("seed", 2147483647);
  const t = Number(p.get("truncation"));
  if (p.has("truncation") && t > 0 && t <= 4) state.truncation = t;
  const x = int("x", info.resolution - 1), y = int("y", info.resolution - 1);
  if (x !== null && y !== null) state.point = [x, y];
  const knockable = new Set(info.layers.filter((l) => l.knockable).map((l) => l.index));
  (p.get("off") || "").split(",").filter((v) => knockable.has(Number(v)) && v !== "").forEach((v) => state.off.add(Number(v)));
  $("cls").value = String(state.cls);
  $("seed").value = String(state.seed);
  $("use-truncation").checked = state.truncation !== null;
  $("truncation").disabled = state.truncation === null;
  if (state.truncation !== null) $("truncation").value = String(state.truncation);
  $("truncation-value").textContent = state.truncation === null ? "none" : state.truncation.toFixed(2);
  $("knockouts").querySelectorAll("input").forEach((box) => { box.checked = !state.off.has(Number(box.dataset.layer)); });
}

async function start() {
  const response = await fetch("/api/info");
  if (!response.ok) throw new Error("/api/info answered " + response.status);
  state.info = await response.json();
  buildControls(state.info);
  readHash(state.info);
  wire();
  refreshAll();
  document.body.dataset.ready = "1";
}

start().catch((e) => fail("could not start: " + e.message));
