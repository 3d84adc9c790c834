// Analytics pages: the filter bar submits itself; editing a date makes the period custom.
(function () {
  "use strict";
  var form = document.querySelector("[data-testid=filters]");
  if (!form) return;
  var period = form.querySelector("[data-period]");
  form.querySelectorAll("input[type=date]").forEach(function (input) {
    input.addEventListener("change", function () {
      if (period) period.value = "custom";
      form.submit();
    });
  });
  form.querySelectorAll("select").forEach(function (select) {
    select.addEventListener("change", function () { form.submit(); });
  });
})();
