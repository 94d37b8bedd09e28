// The process owner's modeler (/modeler): the bpmn-js Modeler with its properties panel and a "Ticketflow"
// group for the spiffworkflow extensions, over the version the page opened. Save sends the diagram and its
// forms to the page's own routes (the page session and its CSRF token), which check them and deploy a new
// version that is not active; the version opened (its sha256) goes along, so a save over someone else's
// newer version is refused rather than lost. Exposed as `window.ticketflowModeler` for the browser tests.
import BpmnModeler from "bpmn-js/lib/Modeler";
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from "bpmn-js-properties-panel";
import "@bpmn-io/properties-panel/dist/assets/properties-panel.css";
import spiffworkflow from "./spiffworkflow.json";
import { FormsPanel } from "./modeler/forms.js";
import CspSafePanel from "./modeler/panel.js";
import { ProblemsView } from "./modeler/problems.js";
import TicketflowProperties from "./modeler/properties.js";

const EXPORTER = { exporter: "ticketflow modeler", exporterVersion: "1" };

function say(text) {
  document.getElementById("modeler-status").textContent = text;
}

async function send(url, host, forms, extra) {
  const { xml } = await window.ticketflowModeler.saveXML({ format: true });
  const body = new FormData();
  body.append("csrf_token", host.dataset.csrf);
  for (const [name, value] of Object.entries(extra)) body.append(name, value);
  body.append("bpmn", new Blob([xml], { type: "application/xml" }), `${host.dataset.key}.bpmn`);
  for (const [name, text] of forms.files()) body.append("forms", new Blob([text], { type: "application/json" }), name);
  const response = await fetch(url, { method: "POST", body, credentials: "same-origin",
    headers: { Accept: "application/json" } });
  const type = response.headers.get("Content-Type") || "";
  const answer = type.includes("json") ? await response.json() : {};
  return { status: response.status, answer };
}

function offerActivation(saved) {
  const form = document.getElementById("modeler-activate");
  form.hidden = saved.active;
  if (saved.active) return;
  form.action = saved.activate_url;
  document.getElementById("modeler-activate-button").textContent = `Make version ${saved.version} active`;
}

function reportRefusal(status, answer) {
  if (status === 409) say(`Not saved: ${answer.detail} Your edits are still here.`);
  else if (status === 422 && answer.problems) say("Not saved: the diagram has problems (listed below).");
  else if (answer.detail) say(`Not saved: ${answer.detail}`);
  else say(`Not saved: the server answered ${status}. Reload the page (your session may have ended).`);
}

async function run(action, context) {
  const { host, forms, problems } = context;
  const parseErrors = forms.parseErrors();
  problems.clear();
  if (Object.keys(parseErrors).length) {
    problems.show(Object.entries(parseErrors).map(([form, message]) => (
      { element: null, form, message: `form '${form}' is ${message}` })));
    say("Not saved: a form is not valid JSON (see the forms below).");
    return;
  }
  say(action === "save" ? "Checking and saving…" : "Checking…");
  const url = action === "save" ? host.dataset.saveUrl : host.dataset.checkUrl;
  const { status, answer } = await send(url, host, forms, action === "save" ? { base: host.dataset.base } : {});
  if (answer.problems) problems.show(answer.problems);
  if (action === "check" && status === 200) {
    say(answer.problems.length ? "The diagram has problems (listed below)." : "No problems found.");
  } else if (status === 200 || status === 201) {
    host.dataset.base = answer.sha256; // the next save builds on what was just deployed
    say(answer.message);
    offerActivation(answer);
  } else {
    reportRefusal(status, answer);
  }
}

async function open(host) {
  const canvas = document.getElementById("modeler-canvas");
  const store = JSON.parse(host.dataset.forms || "{}");
  const modeler = new BpmnModeler({
    container: canvas,
    propertiesPanel: { parent: "#modeler-properties" },
    additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, TicketflowProperties, CspSafePanel],
    moddleExtensions: { spiffworkflow },
    ticketflow: { forms: store, operators: JSON.parse(host.dataset.operators || "[]") },
  });
  window.ticketflowModeler = modeler;
  modeler.on("saveXML.start", ({ definitions }) => Object.assign(definitions, EXPORTER));
  const response = await fetch(host.dataset.diagramUrl, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`the diagram could not be loaded (${response.status})`);
  await modeler.importXML(await response.text());
  modeler.get("canvas").zoom("fit-viewport", "auto");
  const forms = new FormsPanel(modeler, store);
  forms.render();
  const context = { host, forms, problems: new ProblemsView(modeler, forms) };
  const guarded = (action) => () => run(action, context).catch((error) => say(`Not saved: ${error.message}`));
  document.getElementById("modeler-save").addEventListener("click", guarded("save"));
  document.getElementById("modeler-check").addEventListener("click", guarded("check"));
}

function start() {
  const host = document.getElementById("modeler");
  if (!host) return;
  const canvas = document.getElementById("modeler-canvas");
  open(host).then(
    () => { canvas.dataset.state = "ready"; },
    (error) => {
      canvas.dataset.state = "failed";
      say(`The modeler cannot open the diagram: ${error.message}.`);
    },
  );
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
