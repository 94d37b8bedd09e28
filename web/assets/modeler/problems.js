// The server's lint problems on the diagram: a red marker and a "!" overlay on each element named, and every
// problem in a list beside it (a problem on a form file goes to that file's field in the forms panel too).
const MARKER = "lint-problem";

function flag(message) {
  const badge = document.createElement("span");
  badge.className = "lint-flag";
  badge.textContent = "!";
  badge.title = message;
  return badge;
}

export class ProblemsView {
  constructor(modeler, forms) {
    this.modeler = modeler;
    this.forms = forms;
    this.marked = [];
    this.section = document.getElementById("modeler-problems");
    this.list = document.getElementById("modeler-problem-list");
  }

  clear() {
    const canvas = this.modeler.get("canvas");
    for (const id of this.marked) canvas.removeMarker(id, MARKER);
    this.modeler.get("overlays").remove({ type: MARKER });
    this.marked = [];
    this.list.replaceChildren();
    this.section.hidden = true;
    this.forms.showProblems({});
  }

  show(problems) {
    this.clear();
    const registry = this.modeler.get("elementRegistry");
    const byForm = {};
    for (const problem of problems) {
      const element = problem.element ? registry.get(problem.element) : null;
      if (element) this.markElement(element, problem.message);
      if (problem.form) byForm[problem.form] = byForm[problem.form] ? `${byForm[problem.form]}; ${problem.message}`
        : problem.message;
      this.list.append(this.item(problem, element));
    }
    this.forms.showProblems(byForm);
    this.section.hidden = problems.length === 0;
  }

  markElement(element, message) {
    this.modeler.get("canvas").addMarker(element.id, MARKER);
    this.marked.push(element.id);
    const position = element.waypoints ? { top: -8, left: -8 } : { top: -10, right: 10 };
    this.modeler.get("overlays").add(element.id, MARKER, { position, html: flag(message) });
  }

  item(problem, element) {
    const item = document.createElement("li");
    item.dataset.element = problem.element || "";
    item.append(document.createTextNode(problem.message));
    if (element) {
      const show = document.createElement("button");
      show.type = "button";
      show.className = "link";
      show.textContent = "Show in the diagram";
      show.addEventListener("click", () => {
        this.modeler.get("selection").select(element);
        this.modeler.get("canvas").scrollToElement(element);
      });
      item.append(" ", show);
    }
    return item;
  }
}
