// cs231n boundary explorer, static copy: a slider over pictures of the decision
// boundary, one img.wx-frame-img per snapshot (cs231n.boundary_viewer).
window.cs231nBoundaryExplorer = function (rootId) {
  var root = document.getElementById(rootId);
  var data = JSON.parse(root.querySelector('script.wx-data').textContent);
  var slider = root.querySelector('input.wx-frame');
  function show() {
    var k = parseInt(slider.value, 10);
    root.querySelectorAll('img.wx-frame-img').forEach(function (img, i) {
      img.style.display = (i === k) ? 'block' : 'none';
    });
    root.querySelector('.wx-iter').textContent = data.labels[k];
  }
  slider.addEventListener('input', show);
  show();
  window.cs231nHideBesideLive(root, data.live);
};
