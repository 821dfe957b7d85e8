// cs231n weight explorer, static copy: a slider over the snapshots of W1.
//
// The page fragment (cs231n.weight_viewer) holds one img.wx-grid per snapshot
// and run, and a script.wx-data (JSON) with, for each run, the frame
// to show at each slider position, where the markers go on the curves, and the
// strongest classes of each hidden unit.
window.cs231nWeightExplorer = function (rootId) {
  var root = document.getElementById(rootId);
  var data = JSON.parse(root.querySelector('script.wx-data').textContent);
  var slider = root.querySelector('input.wx-frame');
  var columns = root.querySelectorAll('.wx-run');

  function showUnit(r, k) {
    var run = data.runs[r], col = columns[r];
    var unit = parseInt(col.querySelector('input.wx-unit').value, 10);
    var img = col.querySelectorAll('img.wx-grid')[run.frame[k]];
    var s = run.zoom, step = run.tile + run.pad;
    var box = col.querySelector('.wx-zoom');
    box.style.backgroundImage = 'url(' + img.src + ')';
    box.style.backgroundSize = (run.w * s) + 'px ' + (run.h * s) + 'px';
    box.style.backgroundPosition = (-(unit % run.cols) * step * s) + 'px ' +
                                   (-Math.floor(unit / run.cols) * step * s) + 'px';
    col.querySelector('.wx-unit-label').textContent = 'unit ' + unit;
    col.querySelector('.wx-top').textContent = run.top[unit];
  }

  function show() {
    var k = parseInt(slider.value, 10);
    root.querySelector('.wx-iter').textContent = 'iteration ' + data.iters[k];
    data.runs.forEach(function (run, r) {
      var col = columns[r];
      col.querySelectorAll('img.wx-grid').forEach(function (img, i) {
        img.style.display = (i === run.frame[k]) ? 'block' : 'none';
      });
      col.querySelector('.wx-snap').textContent =
        'snapshot at iteration ' + run.iters[run.frame[k]];
      col.querySelectorAll('.wx-marker').forEach(function (m, a) {
        var b = run.markers[k][a];
        m.style.left = b[0] + '%'; m.style.top = b[1] + '%'; m.style.height = b[2] + '%';
      });
      showUnit(r, k);
    });
  }

  slider.addEventListener('input', show);
  root.querySelectorAll('input.wx-unit').forEach(function (u) {
    u.addEventListener('input', show);
  });
  show();
  window.cs231nHideBesideLive(root, data.live);
};
