import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * A full garbage collection, so that a memory figure measures live data rather than when V8 last collected
 * (a leak test's RSS otherwise swings by tens of MiB). Tests run without `--expose-gc`: the flag is set at run
 * time and `gc` taken from a fresh context, where V8 installs it.
 */
export function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}
