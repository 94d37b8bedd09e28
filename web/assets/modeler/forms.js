// The forms beside the diagram: the files its user tasks name, each editable as JSON in a textarea. JSON that
// does not parse is caught here before saving; the server's form checks come back as problems and are shown
// by the same field. `store` (file name -> text) is shared with the properties panel, which offers its names.
import { getBusinessObject, is } from "bpmn-js/lib/util/ModelUtil";

const FORM_KEYS = ["formJsonSchemaFilename", "formUiSchemaFilename"];
const NEW_FORM = '{\n  "type": "object",\n  "additionalProperties": false,\n  "properties": {}\n}\n';
const FILE_NAME = /^[A-Za-z0-9_.-]+\.json$/;

// The form files the diagram's user tasks name, in the order they appear.
export function namedForms(modeler) {
  const names = [];
  for (const element of modeler.get("elementRegistry").getAll()) {
    if (!is(element, "bpmn:UserTask")) continue;
    const values = getBusinessObject(element).get("extensionElements")?.get("values") || [];
    for (const holder of values.filter((v) => is(v, "spiffworkflow:Properties"))) {
      for (const property of holder.get("properties")) {
        if (FORM_KEYS.includes(property.name) && property.value && !names.includes(property.value)) {
          names.push(property.value);
        }
      }
    }
  }
  return names;
}

export class FormsPanel {
  constructor(modeler, store) {
    this.modeler = modeler;
    this.store = store;
    this.errors = {}; // file name -> message
    this.selected = null;
    this.list = document.getElementById("modeler-form-list");
    this.editor = document.getElementById("modeler-form-editor");
    this.text = document.getElementById("modeler-form-text");
    this.label = document.getElementById("modeler-form-label");
    this.error = document.getElementById("modeler-form-error");
    this.text.addEventListener("input", () => {
      this.store[this.selected] = this.text.value;
    });
    document.getElementById("modeler-new-form").addEventListener("click", () => this.addForm());
    modeler.on("commandStack.changed", () => this.render());
  }

  render() {
    const items = namedForms(this.modeler).map((name) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "form-file";
      button.textContent = name + (name in this.store ? "" : " (missing)");
      button.setAttribute("aria-pressed", String(name === this.selected));
      button.addEventListener("click", () => this.select(name));
      item.append(button);
      if (this.errors[name]) {
        const note = document.createElement("span");
        note.className = "field-error";
        note.textContent = " has a problem";
        item.append(note);
      }
      return item;
    });
    this.list.replaceChildren(...items);
  }

  select(name) {
    this.selected = name;
    this.editor.hidden = false;
    this.label.textContent = `Form file ${name}`;
    this.text.value = this.store[name] ?? NEW_FORM;
    this.store[name] = this.text.value;
    this.error.textContent = this.errors[name] || "";
    this.text.setAttribute("aria-invalid", String(Boolean(this.errors[name])));
    this.render();
  }

  addForm() {
    const input = document.getElementById("modeler-new-form-name");
    const name = input.value.trim();
    input.setCustomValidity(FILE_NAME.test(name) ? ""
      : "A form file name has only letters, digits, _ . - and ends in .json.");
    if (!input.reportValidity()) return;
    this.store[name] = this.store[name] ?? NEW_FORM;
    input.value = "";
    this.select(name);
  }

  // The forms to send: every one the diagram names that the page has (edited or as opened).
  files() {
    return namedForms(this.modeler).filter((name) => name in this.store)
      .map((name) => [name, this.store[name]]);
  }

  // JSON that does not parse, per file: checked before anything is sent.
  parseErrors() {
    const errors = {};
    for (const [name, text] of this.files()) {
      try {
        JSON.parse(text);
      } catch (error) {
        errors[name] = `not valid JSON: ${error.message}`;
      }
    }
    return errors;
  }

  showProblems(byForm) {
    this.errors = byForm;
    const first = Object.keys(byForm).find((name) => name in this.store);
    if (first && !(this.selected in byForm)) this.select(first);
    else if (this.selected) this.select(this.selected);
    else this.render();
  }
}
