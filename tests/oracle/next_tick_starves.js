'use strict';
// The nextTick queue is drained completely before the loop moves on, including ticks queued
// by ticks: 10000 chained ticks run before a 0 ms timer that is already overdue (main
// busy-waits past its deadline).  The same inside a timer callback: its 10000 ticks finish
// before anything else (a timer of the same timeout, an immediate it set).
const rt = require('./_rt');
const { print } = rt;
const TICKS = 10000;
function chain(done) {
  let n = 0;
  const tick = () => {
    n += 1;
    if (n < TICKS) rt.nextTick(tick);
    else done(n);
  };
  rt.nextTick(tick);
}
rt.run(() => {
  print('main start');
  rt.setTimeout(0, () => print('timer 0ms fired'));
  chain((n) => print(`ticks done ${n}`));
  rt.setTimeout(100, () => {
    print('timer A 100ms: starts the ticks');
    chain((n) => print(`ticks in timer A done ${n}`));
    rt.setImmediate(() => print('immediate from timer A'));
  });
  rt.setTimeout(100, () => print('timer B 100ms'));
  rt.busyWait(20);
  print('main end');
});
