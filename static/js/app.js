// What the templates ask for with data attributes: the Content-Security-Policy lets no inline
// script or event handler run, so the behaviour lives here.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // The language switch submits on choice (a button stands in without script).
  for (const select of document.querySelectorAll("select[data-submit-on-change]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  // The chart's bars: their height is data, and the policy refuses style attributes in markup
  // (setting a style from a script is allowed).
  for (const bar of document.querySelectorAll(".chart-bar[data-height]")) {
    bar.style.height = `${bar.dataset.height}%`;
  }
  // The data mapping shows, per field, only the inputs its chosen source uses (without
  // script every input stays visible and the form works the same).
  for (const row of document.querySelectorAll("[data-mapping-row]")) {
    const kind = row.querySelector("[data-mapping-kind]");
    const update = () => {
      for (const part of row.querySelectorAll("[data-shown-for]")) {
        part.hidden = !part.dataset.shownFor.split(" ").includes(kind.value);
      }
    };
    kind.addEventListener("change", update);
    update();
  }
  // A form that undoes something (disconnecting a system) asks first.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  }
});
