// Suggest help articles while a customer types the subject of a new ticket (web/pages/knowledge.py kb_suggest).
// Without this script the page works as before; with it, "This answered my question" counts a deflection.
(function () {
  "use strict";
  var box = document.getElementById("kb-suggestions");
  var subject = document.getElementById("f-subject");
  if (!box || !subject || !window.fetch) { return; }
  var endpoint = box.getAttribute("data-suggest");
  var csrf = box.getAttribute("data-csrf");
  var timer = null;
  var asked = "";

  function answeredForm(url, query) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = url;
    form.className = "inline";
    [["csrf_token", csrf], ["query", query]].forEach(function (pair) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = pair[0];
      input.value = pair[1];
      form.appendChild(input);
    });
    var button = document.createElement("button");
    button.type = "submit";
    button.textContent = "This answered my question";
    form.appendChild(button);
    return form;
  }

  function show(items, query) {
    box.textContent = "";
    if (!items.length) { box.hidden = true; return; }
    var heading = document.createElement("h2");
    heading.textContent = "These articles may answer your question";
    box.appendChild(heading);
    var list = document.createElement("ul");
    items.forEach(function (item) {
      var entry = document.createElement("li");
      var link = document.createElement("a");
      link.href = item.url + "?q=" + encodeURIComponent(query);
      link.textContent = item.title;
      var relevance = document.createElement("span");
      relevance.className = "relevance";
      relevance.textContent = item.relevance;
      var excerpt = document.createElement("p");
      excerpt.className = "snippet";
      excerpt.textContent = item.excerpt;
      entry.append(link, " ", relevance, excerpt, answeredForm(item.answered_url, query));
      list.appendChild(entry);
    });
    box.appendChild(list);
    box.hidden = false;
  }

  function ask() {
    var query = subject.value.trim();
    if (query === asked) { return; }
    asked = query;
    if (query.length < 3) { show([], query); return; }
    fetch(endpoint + "?q=" + encodeURIComponent(query), {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (response) { return response.ok ? response.json() : {items: []}; })
      .then(function (body) { if (query === asked) { show(body.items || [], query); } })
      .catch(function () { show([], query); });
  }

  subject.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 250);
  });
})();
