// Campaign builder: the "insert variable" buttons put {{ name }} at the caret of the textarea,
// then fire an input event so the live counter (htmx) follows. No inline script: the CSP forbids it.
document.addEventListener("click", function (event) {
  const button = event.target.closest("button[data-insert]");
  if (!button) return;
  const field = document.getElementById(button.dataset.target);
  if (!field) return;
  const text = button.dataset.insert;
  const start = field.selectionStart ?? field.value.length;
  const end = field.selectionEnd ?? field.value.length;
  field.setRangeText(text, start, end, "end");
  field.focus();
  field.dispatchEvent(new Event("input", { bubbles: true }));
});
