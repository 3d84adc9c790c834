/* The topic catalogue section: drag and drop in manual order (topics inside their group, groups as a whole),
   saved by posting the whole list of topic ids; the ↑/↓ buttons do the same through plain forms without JS. */
(function () {
  "use strict";
  var root = document.querySelector('[data-testid="topic-catalogue"]');
  if (!root) return;

  root.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("[data-confirm]") : null;
    if (button && !window.confirm(button.dataset.confirm)) e.preventDefault();
  });

  if (root.dataset.editable !== "1" || root.dataset.order !== "manual") return;
  var list = root.querySelector('[data-testid="topic-list"]');
  var status = root.querySelector('[data-testid="order-status"]');
  var dragging = null, before = "";

  function order() {
    return Array.prototype.map.call(list.querySelectorAll(".topic-row"), function (li) { return li.dataset.id; });
  }

  function say(text, state) {
    status.textContent = text;
    status.dataset.state = state;
  }

  // First and last places cannot move further: keep the ↑/↓ buttons honest after a drag.
  function refreshButtons() {
    [list].concat(Array.prototype.slice.call(list.querySelectorAll(".topic-rows"))).forEach(function (box) {
      var items = Array.prototype.filter.call(box.children, function (el) {
        return el.classList.contains("topic-row") || el.classList.contains("topic-group");
      });
      items.forEach(function (el, i) {
        var head = el.classList.contains("topic-group") ? el.querySelector(".topic-group-head") : el;
        var up = head.querySelector('[data-move="up"]'), down = head.querySelector('[data-move="down"]');
        if (up) up.disabled = i === 0;
        if (down) down.disabled = i === items.length - 1;
      });
    });
  }

  function save() {
    var ids = order();
    if (ids.join(",") === before) return;
    say(root.dataset.savingText, "saving");
    var body = new URLSearchParams();
    ids.forEach(function (id) { body.append("ids", id); });
    fetch(root.dataset.orderUrl, {
      method: "POST", body: body,
      headers: { "X-Frame-Token": window.B24Frame ? B24Frame.token() : "", "Accept": "application/json" }
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw new Error(data.error || String(r.status));
        return data;
      });
    }).then(function () {
      say(root.dataset.savedText, "saved");
    }).catch(function (err) {
      say(err.message, "error");
    });
  }

  list.addEventListener("dragstart", function (e) {
    var handle = e.target.closest ? e.target.closest("[data-drag]") : null;
    if (!handle) return;
    dragging = handle.closest(handle.dataset.drag === "group" ? ".topic-group" : ".topic-row");
    before = order().join(",");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", dragging.dataset.id || dragging.dataset.group || "");
    if (e.dataTransfer.setDragImage) e.dataTransfer.setDragImage(dragging, 12, 12);
    dragging.classList.add("dragging");
  });

  // The dragged element moves as the pointer passes the middle of a sibling, so what is seen is what is saved.
  list.addEventListener("dragover", function (e) {
    if (!dragging) return;
    var kind = dragging.classList.contains("topic-group") ? ".topic-group" : ".topic-row";
    var over = e.target.closest ? e.target.closest(kind) : null;
    if (!over || over.parentNode !== dragging.parentNode) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    if (over === dragging) return;
    var box = over.getBoundingClientRect();
    var after = e.clientY > box.top + box.height / 2;
    over.parentNode.insertBefore(dragging, after ? over.nextSibling : over);
  });

  list.addEventListener("drop", function (e) {
    if (dragging) e.preventDefault();
  });

  list.addEventListener("dragend", function () {
    if (!dragging) return;
    dragging.classList.remove("dragging");
    dragging = null;
    refreshButtons();
    save();
  });
})();
