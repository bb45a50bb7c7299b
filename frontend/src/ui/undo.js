// Undo and redo over commands {label, undo(), redo()}, which may be async (an API call). Commands
// run one at a time, so a fast Ctrl+Z Ctrl+Z never interleaves two requests; a failed step stays
// where it was and the error goes to the caller to show.
export class UndoStack {
  constructor({ onChange } = {}) {
    this.done = [];
    this.undone = [];
    this.busy = Promise.resolve();
    this.onChange = onChange;
  }

  // Records a command whose effect has already happened.
  push(command) {
    this.done.push(command);
    this.undone.length = 0;
    this.onChange?.();
  }

  // Drops commands matching `predicate` (e.g. the prompts of an image that was left).
  discard(predicate) {
    this.done = this.done.filter((c) => !predicate(c));
    this.undone = this.undone.filter((c) => !predicate(c));
    this.onChange?.();
  }

  step(from, to, method) {
    const run = this.busy.then(async () => {
      const command = from.at(-1);
      if (!command) return null;
      await command[method]();
      from.pop();
      to.push(command);
      this.onChange?.();
      return command;
    });
    this.busy = run.catch(() => {});
    return run;
  }

  undo() {
    return this.step(this.done, this.undone, "undo");
  }

  redo() {
    return this.step(this.undone, this.done, "redo");
  }

  get canUndo() {
    return this.done.length > 0;
  }

  get canRedo() {
    return this.undone.length > 0;
  }
}
