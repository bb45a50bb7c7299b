// Members and roles: add an existing user by username, change a role, remove. The API keeps the
// rules (the last owner stays; only owners appoint owners and managers); the page shows its
// refusals in its words and puts the control back as it was.
import { api, listAll } from "../ui/api.js";
import { confirmDialog, el, manageRoot, markReady, say, sayError } from "../ui/manage.js";
import { routes } from "../ui/routes.js";

const { projectId } = manageRoot();
const tbody = document.querySelector("#members tbody");
const ROLES = [...document.querySelector("#member-add select[name=role]").options].map((o) => [o.value, o.text]);
const me = document.querySelector("header span")?.firstChild?.textContent.trim();

function memberRow(m) {
  const select = el("select", { "aria-label": `role of ${m.username}` }, ...ROLES.map(([v, t]) => el("option", { value: v, selected: v === m.role }, t)));
  const remove = el("button", { type: "button", class: "danger" }, "Remove…");
  const since = new Date(m.created_at).toLocaleDateString();
  const who = m.username === me ? `${m.username} (you)` : m.username;
  const tr = el("tr", { dataset: { userId: String(m.user), username: m.username } }, el("td", {}, who), el("td", {}, select), el("td", {}, since), el("td", {}, remove));
  select.addEventListener("change", async () => {
    try {
      const updated = await api(routes.member(projectId, m.user), { method: "PATCH", body: { role: select.value } });
      m.role = updated.role;
      say(`${m.username} is now ${updated.role}.`);
    } catch (err) {
      select.value = m.role;
      sayError(`Could not change ${m.username}'s role`, err);
    }
  });
  remove.addEventListener("click", async () => {
    const ok = await confirmDialog({
      title: `Remove ${m.username}?`,
      body: "They lose access to the project at once; their annotations stay. Images assigned to them stay assigned until you reassign them.",
      confirm: "Remove",
    });
    if (!ok) return;
    try {
      await api(routes.member(projectId, m.user), { method: "DELETE" });
      tr.remove();
      say(`${m.username} removed.`);
    } catch (err) {
      sayError(`Could not remove ${m.username}`, err);
    }
  });
  return tr;
}

async function load() {
  try {
    const members = await listAll(routes.members(projectId));
    tbody.replaceChildren(...members.map(memberRow));
  } catch (err) {
    sayError("Could not load the members", err);
  }
}

const form = document.getElementById("member-add");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = form.username.value.trim();
  try {
    await api(routes.members(projectId), { method: "POST", body: { username, role: form.role.value } });
    form.username.value = "";
    say(`${username} added as ${form.role.value}.`);
    await load();
  } catch (err) {
    sayError(`Could not add ${username}`, err);
  }
});

markReady();
load();
