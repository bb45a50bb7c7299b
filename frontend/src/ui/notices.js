// Messages a user can act on, shown above the canvas: each has a stable key (so the same problem
// is shown once, and cleared when it is fixed), a level, text, and optional buttons.
export class Notices {
  constructor(el) {
    this.el = el;
    this.items = new Map();
  }

  show(key, text, { level = "error", actions = [] } = {}) {
    let box = this.items.get(key);
    if (!box) {
      box = document.createElement("div");
      box.dataset.notice = key;
      this.el.appendChild(box);
      this.items.set(key, box);
    }
    box.className = `notice ${level}`;
    box.replaceChildren();
    const span = document.createElement("span");
    span.textContent = text;
    box.appendChild(span);
    for (const { label, run } of actions) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.addEventListener("click", () => run());
      box.appendChild(b);
    }
    const close = document.createElement("button");
    close.type = "button";
    close.className = "close";
    close.textContent = "×";
    close.title = "dismiss";
    close.addEventListener("click", () => this.clear(key));
    box.appendChild(close);
  }

  clear(key) {
    this.items.get(key)?.remove();
    this.items.delete(key);
  }
}
