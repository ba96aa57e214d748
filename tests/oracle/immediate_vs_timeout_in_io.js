'use strict';
// Inside an I/O callback (poll phase), setImmediate runs before setTimeout(0) set at the same
// moment, even when the timeout is set first: the check phase comes before the next timers
// phase.  10 rounds, each started from the previous round's timeout callback.
const rt = require('./_rt');
const { print } = rt;
rt.run(() => {
  print('main start');
  const round = (i) => {
    rt.Fs.read('test.txt', () => {
      print(`round ${i}: read done`);
      rt.setTimeout(0, () => {
        print(`round ${i}: timeout`);
        if (i < 10) round(i + 1);
      });
      rt.setImmediate(() => print(`round ${i}: immediate`));
    });
  };
  round(1);
  print('main end');
});
