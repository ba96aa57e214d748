'use strict';
// Clearing a timer that is already due in the timers pass that is running: it must not run.
// (a) Timers of the same timeout: the first clears the second and an interval of the same
//     period, registered after it; a third, not cleared, still runs.
// (b) Different timeouts that are both overdue in one pass: a 500 ms timer blocks the loop for
//     100 ms, so the 510 ms and 520 ms timers are due together; the 510 ms one clears the other.
// (c) An interval that clears itself from its own callback, on its third firing.
const rt = require('./_rt');
const { print } = rt;
rt.run(() => {
  print('main start');
  let second = null;
  let sameInterval = null;
  rt.setTimeout(50, () => {
    print('first 50ms: clears the second and the interval');
    rt.clearTimeout(second);
    rt.clearInterval(sameInterval);
  });
  second = rt.setTimeout(50, () => print('second 50ms (BUG: it was cleared)'));
  sameInterval = rt.setInterval(50, () => print('interval 50ms (BUG: it was cleared)'));
  rt.setTimeout(50, () => print('third 50ms'));

  let n = 0;
  let self = null;
  self = rt.setInterval(100, () => {
    n += 1;
    print(`self-clearing interval #${n}`);
    if (n === 3) rt.clearInterval(self);
  });

  let later = null;
  rt.setTimeout(500, () => { print('blocker 500ms: busy for 100ms'); rt.busyWait(100); });
  rt.setTimeout(510, () => { print('timer 510ms: clears the 520ms timer'); rt.clearTimeout(later); });
  later = rt.setTimeout(520, () => print('timer 520ms (BUG: it was cleared)'));
  rt.setTimeout(800, () => print('timer 800ms'));
  print('main end');
});
