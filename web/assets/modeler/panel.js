// bpmn-js-properties-panel's renderer, set up without inline style attributes. Its own constructor builds its two
// containers from HTML strings with `style="..."`, which the pages' Content-Security-Policy (default-src 'self')
// refuses and reports; bpmn-js and diagram-js made the same change upstream (set styles through the CSSOM, which
// CSP allows). Everything else is the library's renderer: its prototype does the rendering.
import { BpmnPropertiesPanelModule } from "bpmn-js-properties-panel";

const Renderer = BpmnPropertiesPanelModule.propertiesPanel[1];

function box(className, style) {
  const element = document.createElement("div");
  element.className = className;
  Object.assign(element.style, style);
  return element;
}

// Undo and redo while typing in the panel act on the diagram, as in the library's renderer.
function bindUndo(container, commandStack) {
  container.addEventListener("keydown", (event) => {
    if (!(event.ctrlKey || event.metaKey)) return;
    const key = event.key.toLowerCase();
    const redo = key === "y" || (key === "z" && event.shiftKey);
    if (key !== "z" && !redo) return;
    if (redo) commandStack.redo();
    else commandStack.undo();
    event.preventDefault();
    event.stopPropagation();
  });
}

function CspSafePropertiesPanel(config, injector, eventBus) {
  const panel = Object.create(Renderer.prototype);
  const { parent, layout, description, tooltip, feelPopupContainer, getFeelPopupLinks, feelLanguageContext } =
    config || {};
  Object.assign(panel, {
    _eventBus: eventBus, _injector: injector, _layoutConfig: layout, _descriptionConfig: description,
    _tooltipConfig: tooltip, _feelPopupContainer: feelPopupContainer, _getFeelPopupLinks: getFeelPopupLinks,
    _feelLanguageContext: feelLanguageContext, _separateHeader: false,
  });
  panel._container = box("bio-properties-panel-container", { height: "100%" });
  panel._container.tabIndex = -1;
  panel._headerContainer = box("bio-properties-panel bio-theme-parent bio-properties-panel-header-container",
    { flex: "none", height: "auto" });
  const commandStack = injector.get("commandStack", false);
  if (commandStack) bindUndo(panel._container, commandStack);
  eventBus.on("diagram.init", () => { if (parent) panel.attachTo(parent); });
  eventBus.on("diagram.destroy", () => panel.detach());
  eventBus.on("root.added", ({ element }) => panel._render(element));
  return panel;
}

CspSafePropertiesPanel.$inject = ["config.propertiesPanel", "injector", "eventBus"];

export default {
  __depends__: [BpmnPropertiesPanelModule],
  propertiesPanel: ["factory", CspSafePropertiesPanel],
};
