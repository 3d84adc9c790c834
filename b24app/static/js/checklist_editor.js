/* The checklist editor: add, remove and move sections and items, show «N» only for the points scale.
   The form stays a plain form: after every change the fields are renamed s<section>.title and
   s<section>.i<item>.<field> in the order they stand, which is the order the server keeps. */
(function () {
  "use strict";
  var root = document.querySelector('[data-testid="checklist-editor"]');
  if (!root) return;
  var form = root.querySelector('[data-testid="checklist-form"]');
  var box = root.querySelector(".cl-sections");
  var itemTpl = document.getElementById("cl-item-template");
  var sectionTpl = document.getElementById("cl-section-template");

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  function renumber() {
    each(box.querySelectorAll(".cl-section"), function (sec, si) {
      sec.querySelector('[data-field="title"]').name = "s" + si + ".title";
      each(sec.querySelectorAll(".cl-item"), function (item, ii) {
        each(item.querySelectorAll("[data-field]"), function (el) {
          el.name = "s" + si + ".i" + ii + "." + el.dataset.field;
        });
      });
    });
    // The last section or item cannot go: a checklist needs one of each (the server says so too).
    var sections = box.querySelectorAll(".cl-section");
    each(sections, function (sec, si) {
      var items = sec.querySelectorAll(".cl-item");
      sec.querySelector('.cl-section-head [data-action="remove-section"]').disabled = sections.length === 1;
      sec.querySelector('.cl-section-head [data-action="up"]').disabled = si === 0;
      sec.querySelector('.cl-section-head [data-action="down"]').disabled = si === sections.length - 1;
      each(items, function (item, ii) {
        item.querySelector('[data-action="remove-item"]').disabled = items.length === 1;
        item.querySelector('[data-action="up"]').disabled = ii === 0;
        item.querySelector('[data-action="down"]').disabled = ii === items.length - 1;
      });
    });
  }

  function showPoints(item) {
    var scale = item.querySelector('[data-field="scale"]');
    var points = item.querySelector(".cl-points");
    var on = scale.value === "points";
    points.hidden = !on;
    points.querySelector("input").required = on;
    if (on && !points.querySelector("input").value) points.querySelector("input").value = "5";
  }

  function ready(scope) {
    each(scope.querySelectorAll(".cl-tools, .cl-add"), function (el) { el.hidden = false; });
    each(scope.querySelectorAll(".cl-item"), showPoints);
  }

  function fresh(tpl) {
    return tpl.content.firstElementChild.cloneNode(true);
  }

  root.addEventListener("change", function (e) {
    if (e.target.dataset && e.target.dataset.field === "scale") showPoints(e.target.closest(".cl-item"));
  });

  root.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("[data-action]") : null;
    if (!button || !root.contains(button)) return;
    var action = button.dataset.action, focus = null;
    var item = button.closest(".cl-item"), sec = button.closest(".cl-section");
    var row = item || sec;
    if (action === "add-item") {
      var added = fresh(itemTpl);
      sec.querySelector(".cl-items").appendChild(added);
      ready(added.parentNode);
      focus = added.querySelector('[data-field="text"]');
    } else if (action === "add-section") {
      var section = fresh(sectionTpl);
      box.appendChild(section);
      ready(section);
      focus = section.querySelector('[data-field="title"]');
    } else if (action === "remove-item" || action === "remove-section") {
      row.parentNode.removeChild(row);
    } else if (action === "up" && row.previousElementSibling) {
      row.parentNode.insertBefore(row, row.previousElementSibling);
    } else if (action === "down" && row.nextElementSibling) {
      row.parentNode.insertBefore(row.nextElementSibling, row);
    }
    renumber();
    if (focus) focus.focus();
  });

  form.addEventListener("submit", renumber);
  ready(root);
  renumber();
})();
