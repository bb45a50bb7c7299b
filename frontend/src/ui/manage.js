// What the manage pages share: building elements without innerHTML (names come from users), the
// page's message line, and the project id the server rendered into the page.
import { ApiError } from "./api.js";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "style") node.style.cssText = v;
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

export function manageRoot() {
  const root = document.getElementById("manage");
  return { root, projectId: Number(root.dataset.projectId), role: root.dataset.role };
}

// The API's own words: its `detail` (or field errors) is what the person reads.
export function errorText(err) {
  if (err instanceof ApiError) return err.message || `HTTP ${err.status}`;
  return err?.message ?? String(err);
}

export function say(text, kind = "ok") {
  const box = document.getElementById("messages");
  const p = el("p", { class: kind === "error" ? "notice error" : "notice", dataset: { kind } }, text);
  box.replaceChildren(p);
  if (kind !== "error") setTimeout(() => p.isConnected && p.remove(), 6000);
}

export function sayError(prefix, err) {
  say(`${prefix}: ${errorText(err)}`, "error");
}

// A <dialog> confirmation whose text says what is lost; resolves true when confirmed.
export function confirmDialog({ title, body, confirm = "Delete", danger = true, typeToConfirm = null }) {
  return new Promise((resolve) => {
    const input = typeToConfirm ? el("input", { type: "text", autocomplete: "off", "aria-label": "confirmation" }) : null;
    const ok = el("button", { type: "submit", class: danger ? "danger" : "", value: "ok" }, confirm);
    const cancel = el("button", { type: "button" }, "Cancel");
    const form = el(
      "form",
      { method: "dialog" },
      el("h2", {}, title),
      ...[].concat(body).map((line) => el("p", {}, line)),
      typeToConfirm ? el("p", {}, `Type “${typeToConfirm}” to confirm: `, input) : null,
      el("div", { class: "row" }, ok, cancel),
    );
    const dialog = el("dialog", { class: "confirm" }, form);
    if (input) {
      ok.disabled = true;
      input.addEventListener("input", () => (ok.disabled = input.value !== typeToConfirm));
    }
    const close = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    cancel.addEventListener("click", () => close(false));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      close(true);
    });
    dialog.addEventListener("cancel", () => close(false));
    document.body.append(dialog);
    dialog.showModal();
  });
}

export const fmtInt = (n) => Number(n).toLocaleString("en-US");

// Set once the page's controls are wired: before that a form would submit natively (a GET that
// reloads the page), so tests and impatient people wait for it.
export function markReady() {
  document.getElementById("manage").dataset.ready = "true";
}
