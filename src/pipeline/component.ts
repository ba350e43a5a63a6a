export interface Component {
  start(): Promise<void>;
  /** Safe before start() and when called twice. */
  shutdown(): Promise<void>;
}

/** The start and stop rules of a Component, kept in one place: start once; stop before start, or twice, is a no-op. */
export class Lifecycle {
  private state: 'new' | 'started' | 'stopped' = 'new';

  constructor(private readonly name: string) {}

  /** Between start and shutdown. */
  get running(): boolean {
    return this.state === 'started';
  }

  /** Marks the start; throws when the component was started (or stopped) before. */
  begin(): void {
    if (this.state !== 'new') throw new Error(`cannot start ${this.name} in state ${this.state}`);
    this.state = 'started';
  }

  /** Marks the stop; true when there is something to stop (it was running). */
  end(): boolean {
    const wasRunning = this.state === 'started';
    this.state = 'stopped';
    return wasRunning;
  }
}
