'use strict';
// An interval whose first callback blocks the loop for 5 periods (20 ms interval, 100 ms busy
// wait) is not "caught up" with a burst of calls afterwards: each firing is armed from when
// the previous one ran, so firings 2..5 still come at least one period apart.  Cleared from
// its fifth callback.
const rt = require('./_rt');
const { print } = rt;
rt.run(() => {
  print('main start');
  let n = 0;
  let iv = null;
  iv = rt.setInterval(20, () => {
    n += 1;
    print(`interval #${n}`);
    if (n === 1) rt.busyWait(100);
    if (n === 5) rt.clearInterval(iv);
  });
  print('main end');
});
