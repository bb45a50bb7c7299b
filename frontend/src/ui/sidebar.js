// The annotation page's side panels as plain renderers: data and callbacks in, DOM out.

// SAM's candidates for the current prompt with their predicted IoU; the chosen one is marked.
// pick(index) shows another one (as Tab does); hover replies have no pick.
export function candidates(list, reply, pick) {
  list.replaceChildren();
  if (!reply) return;
  const indices = reply.multimask === false ? [0] : [1, 2, 3];
  for (const i of indices) {
    const li = document.createElement("li");
    li.textContent = `mask ${i}: IoU ${reply.scores[i].toFixed(3)}`;
    li.title = "the decoder's predicted IoU of this candidate";
    li.dataset.candidate = String(i);
    li.dataset.score = String(reply.scores[i]);
    li.setAttribute("aria-current", String(i === reply.chosen));
    if (pick && indices.length > 1) li.addEventListener("click", () => pick(i));
    list.appendChild(li);
  }
}

// The project's labels with their colour and number key; pick(index) selects one.
export function labels(ol, { order, labels: byId, current, pick }) {
  ol.replaceChildren();
  order.forEach((id, i) => {
    const l = byId.get(id);
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.label = String(id);
    b.setAttribute("aria-pressed", String(i === current));
    b.innerHTML = `<span class="swatch"></span><kbd>${i + 1}</kbd> <span></span>`;
    b.querySelector(".swatch").style.background = l.color;
    b.lastElementChild.textContent = l.name;
    b.addEventListener("click", () => pick(i));
    li.appendChild(b);
    ol.appendChild(li);
  });
}

// The image's annotations; pick(id) selects one for editing.
export function annotations(ul, { list, labels: byId, selectedId, pick }) {
  ul.replaceChildren();
  for (const a of list) {
    const l = byId.get(a.label);
    const li = document.createElement("li");
    li.dataset.annotationId = String(a.id);
    li.setAttribute("aria-selected", String(a.id === selectedId));
    li.innerHTML = `<span class="swatch"></span><span class="name"></span><span class="muted"></span>`;
    li.querySelector(".swatch").style.background = l?.color ?? "#999";
    li.querySelector(".name").textContent = `${l?.name ?? "?"} #${a.id}${a.unsaved ? " (unsaved)" : ""}`;
    li.querySelector(".muted").textContent = `${Math.round(a.area)} px²`;
    li.addEventListener("click", () => pick(a.id));
    ul.appendChild(li);
  }
}
