// cs231n weight explorer, static copy: a slider over the snapshots of W1.
//
// The page fragment (cs231n.weight_viewer) holds one img.wx-grid per snapshot
// and run, and a script.wx-data (JSON) with, for each run, the frame to show at
// each slider position and what the run says about it (labels: the iteration of
// its snapshot), where the markers go on the curves, and the class votes of each
// hidden unit (its row of W2 after training, in percent of its largest).
window.cs231nWeightExplorer = function (rootId) {
  var root = document.getElementById(rootId);
  var data = JSON.parse(root.querySelector('script.wx-data').textContent);
  var slider = root.querySelector('input.wx-frame');
  var columns = root.querySelectorAll('.wx-run');

  function element(tag, className, text) {
    var e = document.createElement(tag);
    if (className) { e.className = className; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  // The enlarged template: the unit's tile drawn 1:1 on a small canvas, which CSS
  // scales up smoothly (image-rendering: auto), not in blocks.
  function drawZoom(run, col, img, unit) {
    var canvas = col.querySelector('canvas.wx-zoom');
    var step = run.tile + run.pad;
    var wanted = canvas.wanted = {img: img, unit: unit};
    var draw = function () {
      if (canvas.wanted !== wanted) { return; }  // a later frame or unit was asked for
      var ctx = canvas.getContext('2d');
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(img, (unit % run.cols) * step, Math.floor(unit / run.cols) * step,
                    run.tile, run.tile, 0, 0, run.tile, run.tile);
    };
    if (img.complete && img.naturalWidth) { draw(); } else { img.addEventListener('load', draw); }
  }

  // The strongest classes of a unit, a bar per class (+ right, - left) and a caption.
  function showVotes(run, col, unit) {
    var box = col.querySelector('.wx-votes');
    box.textContent = '';
    if (!run.votes) {
      box.appendChild(element('div', '', 'unit ' + unit + ': ' + data.noW2));
      return;
    }
    var scale = run.votes[unit][0], votes = run.votes[unit][1];
    var name = function (c) { return c < data.classes.length ? data.classes[c] : String(c); };
    box.appendChild(element('b', 'wx-strongest', 'unit ' + unit + ': ' + data.strongest + ' ' +
      votes.slice(0, 3).map(function (v) { return name(v[0]); }).join(', ')));
    votes.forEach(function (v) {
      var pct = v[1], row = element('div', 'wx-vote');
      row.appendChild(element('span', 'wx-class', name(v[0])));
      var bar = element('span', 'wx-bar'), fill = element('span', pct >= 0 ? 'wx-up' : 'wx-down');
      fill.style.width = (Math.abs(pct) / 2) + '%';
      bar.appendChild(element('span', 'wx-zero'));
      bar.appendChild(fill);
      row.appendChild(bar);
      row.appendChild(element('span', 'wx-pct', (pct >= 0 ? '+' : '\u2212') + Math.abs(pct) + '%'));
      box.appendChild(row);
    });
    box.appendChild(element('div', 'wx-caption', data.caption.replace('{scale}', scale)));
  }

  function showUnit(r, k) {
    var run = data.runs[r], col = columns[r];
    var unit = parseInt(col.querySelector('input.wx-unit').value, 10);
    drawZoom(run, col, col.querySelectorAll('img.wx-grid')[run.frame[k]], unit);
    col.querySelector('.wx-unit-label').textContent = 'unit ' + unit;
    showVotes(run, col, unit);
  }

  function show() {
    var k = parseInt(slider.value, 10);
    data.runs.forEach(function (run, r) {
      var col = columns[r];
      col.querySelectorAll('img.wx-grid').forEach(function (img, i) {
        img.style.display = (i === run.frame[k]) ? 'block' : 'none';
      });
      col.querySelector('.wx-snap').textContent = run.labels[k];
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
