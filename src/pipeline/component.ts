export interface Component {
  start(): Promise<void>;
  /** Safe before start() and when called twice. */
  shutdown(): Promise<void>;
}
