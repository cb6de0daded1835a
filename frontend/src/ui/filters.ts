/**
 * Filter forms apply themselves when a select or date changes, so the list follows the filters
 * without a click; the plain form still works without JS. With `onChange` (a list rendered in the
 * browser) text fields apply after a pause in typing too; a server-rendered list waits for Enter,
 * so a reload never interrupts typing.
 */

import { debounce } from "../core/debounce";

export function enhanceFilterForm(form: HTMLFormElement, onChange?: () => void): void {
  const submit = onChange ?? (() => form.requestSubmit());
  const typed = debounce(submit, 600);
  form.querySelectorAll<HTMLSelectElement | HTMLInputElement>("select, input").forEach((field) => {
    if (field instanceof HTMLSelectElement || field.type === "date") field.addEventListener("change", () => submit());
    else if (onChange && ["text", "search", ""].includes(field.type)) field.addEventListener("input", () => typed());
  });
}

/** The form's non-empty values. */
export function formValues(form: HTMLFormElement): Record<string, string> {
  const out: Record<string, string> = {};
  new FormData(form).forEach((value, key) => {
    if (typeof value === "string" && value.trim() !== "") out[key] = value.trim();
  });
  return out;
}
