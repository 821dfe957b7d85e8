// cs231n explorers: hide a static copy once the live ipywidgets view is on the page.
//
// In a live front end (Jupyter, VS Code) the widget view of an explorer sits just
// above its static copy; an exported page carries the widget state in a script
// tag instead, and its widget view renders nothing: there the copy stays.
window.cs231nHideBesideLive = function (root, liveClass) {
  var tries = 0;
  var timer = setInterval(function () {
    tries += 1;
    var live = liveClass && document.querySelector('.' + liveClass) &&
      !document.querySelector('script[type="application/vnd.jupyter.widget-state+json"]');
    if (live) { root.style.display = 'none'; }
    if (live || tries > 40) { clearInterval(timer); }
  }, 250);
};
