import { describe, expect, it } from 'vitest';
import { Lifecycle } from './component.js';

describe('Lifecycle', () => {
  it('starts once, and runs until it ends', () => {
    const lifecycle = new Lifecycle('thing');
    expect(lifecycle.running).toBe(false);
    lifecycle.begin();
    expect(lifecycle.running).toBe(true);
    expect(() => lifecycle.begin()).toThrow('cannot start thing in state started');
    expect(lifecycle.end()).toBe(true);
    expect(lifecycle.running).toBe(false);
  });

  it('has nothing to stop before start or a second time, and cannot start after a stop', () => {
    const never = new Lifecycle('thing');
    expect(never.end()).toBe(false);
    expect(() => never.begin()).toThrow('cannot start thing in state stopped');
    const twice = new Lifecycle('thing');
    twice.begin();
    expect(twice.end()).toBe(true);
    expect(twice.end()).toBe(false);
  });
});
