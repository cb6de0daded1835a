/**
 * Undo/redo over immutable snapshots. `push` records the state *after* an edit; `undo` returns the
 * previous state, `redo` the next one. A push after undos drops the redo branch (as every editor
 * does). The stack is bounded: the oldest states are forgotten first.
 */
export class History<T> {
  private states: T[];
  private index = 0;

  constructor(initial: T, private readonly limit = 200) {
    if (limit < 2) throw new RangeError("limit must be at least 2");
    this.states = [initial];
  }

  get current(): T {
    return this.states[this.index];
  }

  get canUndo(): boolean {
    return this.index > 0;
  }

  get canRedo(): boolean {
    return this.index < this.states.length - 1;
  }

  /** Number of states that `undo` can still go back through. */
  get depth(): number {
    return this.index;
  }

  push(state: T): void {
    this.states = this.states.slice(0, this.index + 1);
    this.states.push(state);
    if (this.states.length > this.limit) this.states.splice(0, this.states.length - this.limit);
    this.index = this.states.length - 1;
  }

  /** Replace the current state without a new undo step (e.g. continuing one drag). */
  replace(state: T): void {
    this.states[this.index] = state;
  }

  undo(): T | undefined {
    if (!this.canUndo) return undefined;
    this.index -= 1;
    return this.current;
  }

  redo(): T | undefined {
    if (!this.canRedo) return undefined;
    this.index += 1;
    return this.current;
  }

  /** Forget everything and start again from `state` (after loading another revision). */
  reset(state: T): void {
    this.states = [state];
    this.index = 0;
  }
}
