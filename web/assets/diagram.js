// Draws each `.bpmn-diagram` on a page with the bpmn-js viewer: the diagram XML comes from the element's
// same-origin `data-diagram-url`; `data-current` and `data-visited` (element ids) become markers, and
// `data-counts` (element id -> number) becomes count badges. With `data-mode="heat"` the counts are
// tickets waiting now and colour the elements by band; otherwise they are how often the ticket reached a step
// or took a flow, given by the page only where it went round a loop. The page says the same in words, so
// without this script nothing is lost but the picture.
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";

const BANDS = [
  [0.67, "heat-high"],
  [0.34, "heat-mid"],
  [0, "heat-low"],
];

function parsed(raw, fallback) {
  if (!raw) return fallback;
  try {
    return JSON.parse(raw);
  } catch (error) {
    return fallback;
  }
}

function badge(text, label, className) {
  const element = document.createElement("span");
  element.className = `diagram-count ${className}`;
  element.textContent = text;
  element.title = label;
  return element;
}

function bandOf(count, highest) {
  const share = highest > 0 ? count / highest : 0;
  return BANDS.find(([floor]) => share >= floor)[1];
}

function mark(canvas, registry, ids, marker) {
  for (const id of ids) {
    if (registry.get(id)) canvas.addMarker(id, marker);
  }
}

// Above the middle of a flow's longest segment, where a badge reads as belonging to that flow.
function flowSpot(connection) {
  let best = null;
  let longest = -1;
  connection.waypoints.slice(1).forEach((end, index) => {
    const start = connection.waypoints[index];
    const length = Math.hypot(end.x - start.x, end.y - start.y);
    if (length > longest) {
      longest = length;
      best = { x: (start.x + end.x) / 2, y: (start.y + end.y) / 2 };
    }
  });
  // Overlays sit relative to the flow's bounding box (a connection has no x and y of its own).
  const left = Math.min(...connection.waypoints.map((point) => point.x));
  const top = Math.min(...connection.waypoints.map((point) => point.y));
  return { left: best.x - left - 14, top: best.y - top - 22 };
}

function showLoops(registry, overlays, counts) {
  for (const [id, times] of Object.entries(counts)) {
    const element = registry.get(id);
    if (!element || times < 1) continue;
    // A flow's badge says how often the ticket went back along it; a step's, how often it was reached.
    const flow = Boolean(element.waypoints);
    overlays.add(id, "loop-count", {
      position: flow ? flowSpot(element) : { top: -12, right: 12 },
      html: flow ? badge(`↺ ${times}`, `taken ${times} ${times === 1 ? "time" : "times"}`, "loop")
        : badge(`×${times}`, `reached ${times} times`, "loop"),
    });
  }
}

function showHeat(canvas, registry, overlays, counts) {
  const highest = Math.max(0, ...Object.values(counts));
  for (const [id, waiting] of Object.entries(counts)) {
    if (waiting < 1 || !registry.get(id)) continue;
    canvas.addMarker(id, "heat");
    canvas.addMarker(id, bandOf(waiting, highest));
    overlays.add(id, "waiting-count", {
      position: { top: -12, right: 12 },
      html: badge(String(waiting), `${waiting} waiting here now`, bandOf(waiting, highest)),
    });
  }
}

async function draw(container) {
  const viewer = new NavigatedViewer({ container });
  const response = await fetch(container.dataset.diagramUrl, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`the diagram could not be loaded (${response.status})`);
  await viewer.importXML(await response.text());
  const canvas = viewer.get("canvas");
  const registry = viewer.get("elementRegistry");
  const overlays = viewer.get("overlays");
  const counts = parsed(container.dataset.counts, {});
  mark(canvas, registry, parsed(container.dataset.visited, []), "visited");
  mark(canvas, registry, parsed(container.dataset.current, []), "current");
  if (container.dataset.mode === "heat") showHeat(canvas, registry, overlays, counts);
  else showLoops(registry, overlays, counts);
  canvas.zoom("fit-viewport", "auto");
  return viewer;
}

function start() {
  for (const container of document.querySelectorAll(".bpmn-diagram[data-diagram-url]")) {
    container.dataset.state = "loading";
    draw(container).then(
      () => { container.dataset.state = "ready"; },
      (error) => {
        container.dataset.state = "failed";
        const note = document.createElement("p");
        note.className = "diagram-failed";
        note.textContent = `The diagram cannot be shown: ${error.message}. The steps are listed in words on this page.`;
        container.replaceChildren(note);
      },
    );
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
