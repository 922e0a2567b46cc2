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
  // A form that undoes something (disconnecting a system) asks first.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  }
});
