/* skiplessons: set up the Jupyter widget manager (loaded after require.js, before embed-amd.js).
 *
 * 1. Where it lives. The manager fetches its Font Awesome fonts from the folder of its AMD module's URL,
 *    which RequireJS otherwise places under the page's folder (<page folder>/@jupyter-widgets/html-manager/
 *    dist/, where nothing is). Mapping the module to this script's folder makes the fonts load from here.
 * 2. MathJax. The widgets typeset their labels with MathJax 2's `MathJax.Hub.Queue(["Typeset", Hub, el])`
 *    whenever `window.MathJax` exists; the site runs MathJax 3, which has no `Hub`, so every widget threw a
 *    TypeError. At `load` (before the manager draws: this listener is added first, and MathJax, a deferred
 *    script, has run by then), MathJax 3 gets a `Hub.Queue` that typesets the element with its own API. */
(function () {
  var here = document.currentScript.src.replace(/[?#].*$/, "").replace(/\/[^\/]*$/, "");
  window.require.config({paths: {"@jupyter-widgets/html-manager/dist": here}});
  window.addEventListener("load", function () {
    var mj = window.MathJax;
    if (!mj || mj.Hub || !mj.startup) return;      // no MathJax, or MathJax 2, or not MathJax 3's startup
    mj.Hub = {Queue: function (job) {
      if (Array.isArray(job) && job[0] === "Typeset" && job[2]) {
        mj.startup.promise.then(function () { return mj.typesetPromise([job[2]]); });
      }
    }};
  });
})();
