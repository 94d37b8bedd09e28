// The "Ticketflow" group of the properties panel: what the engine reads from an element beyond plain BPMN.
// A user task's form files (chosen among the deployed forms), a service task's operator, result variable and
// parameters, a flow's condition and a timer's expression, all in the `spiffworkflow` extensions the diagram
// already uses (see ../spiffworkflow.json) or in plain BPMN. Every change goes through bpmn-js's command
// stack, so it can be undone and is what saveXML writes.
import { h } from "@bpmn-io/properties-panel/preact";
import {
  SelectEntry, TextAreaEntry, TextFieldEntry,
  isSelectEntryEdited, isTextAreaEntryEdited, isTextFieldEntryEdited,
} from "@bpmn-io/properties-panel";
import { useService } from "bpmn-js-properties-panel";
import { getBusinessObject, is } from "bpmn-js/lib/util/ModelUtil";

const TIMER_KINDS = [
  { value: "timeDuration", label: "After a duration" },
  { value: "timeDate", label: "At a date and time" },
  { value: "timeCycle", label: "Repeating (cycle)" },
];

function extension(bo, type) {
  const values = bo.get("extensionElements")?.get("values") || [];
  return values.find((value) => is(value, type));
}

// The extension of `type` on the element, created (undoably) when it is missing.
function ensureExtension(element, type, bpmnFactory, modeling) {
  const bo = getBusinessObject(element);
  let container = bo.get("extensionElements");
  if (!container) {
    container = bpmnFactory.create("bpmn:ExtensionElements", { values: [] });
    container.$parent = bo;
    modeling.updateModdleProperties(element, bo, { extensionElements: container });
  }
  let found = container.get("values").find((value) => is(value, type));
  if (!found) {
    found = bpmnFactory.create(type);
    found.$parent = container;
    modeling.updateModdleProperties(element, container, { values: [...container.get("values"), found] });
  }
  return found;
}

function propertyValue(element, name) {
  const props = extension(getBusinessObject(element), "spiffworkflow:Properties");
  return props?.get("properties").find((p) => p.name === name)?.value || "";
}

function FormFileEntry(props) {
  const { element, id, name, label, choices } = props;
  const bpmnFactory = useService("bpmnFactory");
  const modeling = useService("modeling");
  const setValue = (value) => {
    const holder = ensureExtension(element, "spiffworkflow:Properties", bpmnFactory, modeling);
    const existing = holder.get("properties").find((p) => p.name === name);
    if (existing) {
      modeling.updateModdleProperties(element, existing, { value: value || undefined });
      return;
    }
    const property = bpmnFactory.create("spiffworkflow:Property", { name, value });
    property.$parent = holder;
    modeling.updateModdleProperties(element, holder, { properties: [...holder.get("properties"), property] });
  };
  const getOptions = () => {
    const current = propertyValue(element, name);
    const names = [...new Set([...choices, ...(current ? [current] : [])])].sort();
    return [{ value: "", label: "(none)" }, ...names.map((file) => ({ value: file, label: file }))];
  };
  return h(SelectEntry, { element, id, label, getValue: () => propertyValue(element, name), setValue, getOptions });
}

function operatorOf(element) {
  return extension(getBusinessObject(element), "spiffworkflow:ServiceTaskOperator");
}

function OperatorEntry(props) {
  const { element, id, operators } = props;
  const bpmnFactory = useService("bpmnFactory");
  const modeling = useService("modeling");
  const setValue = (value) => {
    const operator = ensureExtension(element, "spiffworkflow:ServiceTaskOperator", bpmnFactory, modeling);
    modeling.updateModdleProperties(element, operator, { id: value || undefined });
  };
  const getOptions = () => {
    const current = operatorOf(element)?.id;
    const names = [...new Set([...operators, ...(current ? [current] : [])])].sort();
    return [{ value: "", label: "(choose one)" }, ...names.map((name) => ({ value: name, label: name }))];
  };
  return h(SelectEntry, {
    element, id, label: "Service operator", getValue: () => operatorOf(element)?.id || "", setValue, getOptions,
  });
}

function ResultEntry(props) {
  const { element, id } = props;
  const bpmnFactory = useService("bpmnFactory");
  const modeling = useService("modeling");
  const debounce = useService("debounceInput");
  const setValue = (value) => {
    const operator = ensureExtension(element, "spiffworkflow:ServiceTaskOperator", bpmnFactory, modeling);
    modeling.updateModdleProperties(element, operator, { resultVariable: value || undefined });
  };
  return h(TextFieldEntry, {
    element, id, label: "Result variable", debounce, setValue,
    getValue: () => operatorOf(element)?.resultVariable || "",
    description: "The process variable the operator's answer is stored in.",
  });
}

// Parameters as text, one `name = expression` a line, so adding and removing one is typing.
function parametersText(element) {
  const list = operatorOf(element)?.get("parameterList")?.get("parameters") || [];
  return list.map((p) => `${p.id} = ${p.value || ""}`).join("\n");
}

function parsedParameters(text, previous, bpmnFactory) {
  const typeOf = Object.fromEntries(previous.map((p) => [p.id, p.type]));
  return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
    const at = line.indexOf("=");
    const name = (at < 0 ? line : line.slice(0, at)).trim();
    const value = at < 0 ? "" : line.slice(at + 1).trim();
    return bpmnFactory.create("spiffworkflow:Parameter", { id: name, type: typeOf[name] || "str", value });
  });
}

function ParametersEntry(props) {
  const { element, id } = props;
  const bpmnFactory = useService("bpmnFactory");
  const modeling = useService("modeling");
  const debounce = useService("debounceInput");
  const setValue = (text) => {
    const operator = ensureExtension(element, "spiffworkflow:ServiceTaskOperator", bpmnFactory, modeling);
    let holder = operator.get("parameterList");
    if (!holder) {
      holder = bpmnFactory.create("spiffworkflow:Parameters", { parameters: [] });
      holder.$parent = operator;
      modeling.updateModdleProperties(element, operator, { parameterList: holder });
    }
    const parameters = parsedParameters(text || "", holder.get("parameters"), bpmnFactory);
    parameters.forEach((parameter) => { parameter.$parent = holder; });
    modeling.updateModdleProperties(element, holder, { parameters });
  };
  return h(TextAreaEntry, {
    element, id, label: "Parameters", debounce, setValue, getValue: () => parametersText(element), rows: 3,
    monospace: true, description: "One a line: name = expression (a Python expression over the process data).",
  });
}

function conditionHolder(element) {
  return getBusinessObject(element).get("conditionExpression");
}

function ConditionEntry(props) {
  const { element, id } = props;
  const bpmnFactory = useService("bpmnFactory");
  const modeling = useService("modeling");
  const debounce = useService("debounceInput");
  const setValue = (value) => {
    const expression = value ? bpmnFactory.create("bpmn:FormalExpression", { body: value }) : undefined;
    modeling.updateProperties(element, { conditionExpression: expression });
  };
  return h(TextFieldEntry, {
    element, id, label: "Condition", debounce, setValue, getValue: () => conditionHolder(element)?.body || "",
    description: "A Python expression over the process data; the flow is taken when it is true.",
  });
}

function timerOf(element) {
  return (getBusinessObject(element).get("eventDefinitions") || []).find((d) => is(d, "bpmn:TimerEventDefinition"));
}

function timerKind(timer) {
  return TIMER_KINDS.map((k) => k.value).find((kind) => timer.get(kind)) || "timeDuration";
}

function setTimer(element, timer, kind, body, bpmnFactory, modeling) {
  const update = Object.fromEntries(TIMER_KINDS.map((k) => [k.value, undefined]));
  update[kind] = bpmnFactory.create("bpmn:FormalExpression", { body });
  modeling.updateModdleProperties(element, timer, update);
}

function TimerKindEntry(props) {
  const { element, id } = props;
  const bpmnFactory = useService("bpmnFactory");
  const modeling = useService("modeling");
  const timer = timerOf(element);
  const setValue = (kind) => setTimer(element, timer, kind, timer.get(timerKind(timer))?.body || "", bpmnFactory,
    modeling);
  return h(SelectEntry, {
    element, id, label: "Timer kind", getValue: () => timerKind(timer), setValue, getOptions: () => TIMER_KINDS,
  });
}

function TimerExpressionEntry(props) {
  const { element, id } = props;
  const bpmnFactory = useService("bpmnFactory");
  const modeling = useService("modeling");
  const debounce = useService("debounceInput");
  const timer = timerOf(element);
  return h(TextFieldEntry, {
    element, id, label: "Timer expression", debounce,
    getValue: () => timer.get(timerKind(timer))?.body || "",
    setValue: (value) => setTimer(element, timer, timerKind(timer), value || "", bpmnFactory, modeling),
    description: 'A Python expression: a quoted ISO 8601 value ("P2D") or process data.',
  });
}

function entriesFor(element, options) {
  const forms = Object.keys(options.forms || {});
  if (is(element, "bpmn:UserTask")) {
    return [
      { id: "tf-form", component: FormFileEntry, isEdited: isSelectEntryEdited, name: "formJsonSchemaFilename",
        label: "Form (JSON Schema file)", choices: forms.filter((f) => !f.includes("uischema")) },
      { id: "tf-ui-form", component: FormFileEntry, isEdited: isSelectEntryEdited, name: "formUiSchemaFilename",
        label: "Form layout (UI schema file)", choices: forms.filter((f) => f.includes("uischema")) },
    ];
  }
  if (is(element, "bpmn:ServiceTask")) {
    return [
      { id: "tf-operator", component: OperatorEntry, isEdited: isSelectEntryEdited, operators: options.operators || [] },
      { id: "tf-result", component: ResultEntry, isEdited: isTextFieldEntryEdited },
      { id: "tf-parameters", component: ParametersEntry, isEdited: isTextAreaEntryEdited },
    ];
  }
  if (is(element, "bpmn:SequenceFlow")) {
    return [{ id: "tf-condition", component: ConditionEntry, isEdited: isTextFieldEntryEdited }];
  }
  if (timerOf(element)) {
    return [
      { id: "tf-timer-kind", component: TimerKindEntry, isEdited: isSelectEntryEdited },
      { id: "tf-timer", component: TimerExpressionEntry, isEdited: isTextFieldEntryEdited },
    ];
  }
  return [];
}

function TicketflowPropertiesProvider(propertiesPanel, config) {
  this.getGroups = (element) => (groups) => {
    const entries = entriesFor(element, config || {});
    if (!entries.length) return groups;
    // The library's own timer group edits the same expression: one place for it is clearer.
    const kept = groups.filter((group) => group.id !== "timer");
    return [...kept, { id: "ticketflow", label: "Ticketflow", entries, shouldOpen: true }];
  };
  propertiesPanel.registerProvider(400, this);
}

TicketflowPropertiesProvider.$inject = ["propertiesPanel", "config.ticketflow"];

export default {
  __init__: ["ticketflowPropertiesProvider"],
  ticketflowPropertiesProvider: ["type", TicketflowPropertiesProvider],
};
