// The image's tags (image-level labels, of kind "tag"): a strip of toggles in the sidebar, and
// Shift+1..9 toggles the k-th. A tag is written like an annotation (the edit lock and the review
// status decide), so a read-only page shows the tags without letting them change.
import { api } from "../ui/api.js";
import { routes } from "../ui/routes.js";
import { $ } from "./dom.js";

export function createTagsPanel({ state, notices }) {
  let tags = []; // the project's tag labels, in order: Shift+k toggles tags[k - 1]

  function setLabels(labels) {
    tags = labels.filter((l) => l.kind === "tag");
    render();
  }

  function render() {
    const strip = $("tags");
    strip.replaceChildren();
    if (!tags.length) {
      strip.textContent = "no image tags in this project";
      return;
    }
    const on = new Set(state.image?.tags ?? []);
    tags.forEach((l, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.tag = String(l.id);
      b.setAttribute("aria-pressed", String(on.has(l.id)));
      b.disabled = state.readOnly;
      b.innerHTML = `<span class="swatch"></span>${i < 9 ? `<kbd>⇧${i + 1}</kbd> ` : ""}<span></span>`;
      b.querySelector(".swatch").style.background = l.color;
      b.lastElementChild.textContent = l.name;
      b.addEventListener("click", () => toggle(i));
      strip.appendChild(b);
    });
  }

  async function toggle(i) {
    const label = tags[i];
    if (!label || !state.image) return;
    if (state.readOnly) return notices.show("readonly", "This image is read-only for you; its tags cannot change.", { level: "info" });
    const image = state.image;
    const on = !(image.tags ?? []).includes(label.id);
    try {
      const reply = await api(routes.imageTag(image.id, label.id), { method: on ? "POST" : "DELETE" });
      image.tags = reply.tags;
      notices.clear("tags");
    } catch (err) {
      notices.show("tags", `Tag “${label.name}” not ${on ? "set" : "taken off"}: ${err.message}`);
    }
    if (state.image === image) render();
  }

  return { setLabels, render, actions: { toggleTag: (i) => toggle(i) } };
}
