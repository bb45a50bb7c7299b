// The saved annotations of the open image, mirrored from the API. Every write goes through here
// so that the local copy (with its `version`) matches what the server last said.
import { api, listAll } from "./api.js";
import { routes } from "./routes.js";

export class AnnotationStore {
  constructor({ onChange } = {}) {
    this.items = new Map();
    this.imageId = null;
    this.onChange = onChange;
  }

  async load(imageId) {
    this.imageId = imageId;
    const list = await listAll(routes.annotations(imageId));
    this.items = new Map(list.map((a) => [a.id, a]));
    this.onChange?.();
  }

  get list() {
    return [...this.items.values()];
  }

  get(id) {
    return this.items.get(id);
  }

  async create(fields) {
    const a = await api(routes.annotations(this.imageId), { method: "POST", body: fields });
    this.items.set(a.id, a);
    this.onChange?.();
    return a;
  }

  // PATCH with the version we hold; a 409 (someone saved in between) propagates to the caller,
  // which keeps the user's change and offers to reload or overwrite.
  async update(id, fields) {
    const current = this.items.get(id);
    const a = await api(routes.annotation(id), { method: "PATCH", body: { version: current.version, ...fields } });
    this.items.set(a.id, a);
    this.onChange?.();
    return a;
  }

  async remove(id) {
    const current = this.items.get(id);
    const url = current ? `${routes.annotation(id)}?version=${current.version}` : routes.annotation(id);
    await api(url, { method: "DELETE" });
    this.items.delete(id);
    this.onChange?.();
  }

  // Shows an unsaved edit (after a 409) without touching the version we hold, so the user sees
  // what "Keep mine" would save.
  setLocal(id, fields) {
    const current = this.items.get(id);
    if (!current) return;
    this.items.set(id, { ...current, ...fields, unsaved: true });
    this.onChange?.();
  }

  // Drops an annotation the server no longer has (someone else deleted it), without a request.
  forget(id) {
    if (this.items.delete(id)) this.onChange?.();
  }

  async refresh(id) {
    const a = await api(routes.annotation(id));
    this.items.set(a.id, a);
    this.onChange?.();
    return a;
  }

  // Takes the server's copy of an annotation another route wrote (a revert, a restore).
  adopt(a) {
    this.items.set(a.id, a);
    this.onChange?.();
  }

  // The fields that recreate an annotation (redo of a delete, undo of a create).
  static recipe(a) {
    const shape = a.kind === "box" ? { kind: "box", bbox: a.bbox } : { polygons: a.polygons };
    return { label: a.label, ...shape, source: a.source, score: a.score, prompts: a.prompts ?? {}, attributes: a.attributes ?? {} };
  }
}
