// Moving between images without leaving the page: N / P through the project's list, "Next for
// me" from the assignment queue, the browser's back and forward; and the next image's embedding
// fetched ahead, so that N finds it already here.
import { listAll } from "../ui/api.js";
import { routes } from "../ui/routes.js";
import { nextImageFor } from "../ui/workflow.js";

export function createNavigation({ state, notices, opening }) {
  function prefetchAfter(id) {
    const k = state.neighbours.indexOf(id);
    if (k >= 0) opening.prefetch(state.neighbours[k + 1]);
  }

  // The project's image ids in list order; the prefetch waits for them if the image was faster.
  function loadNeighbours() {
    listAll(`${routes.images(state.projectId)}`).then((list) => {
      state.neighbours = list.map((i) => i.id);
      if (state.ready) prefetchAfter(state.imageId);
    }, () => {});
  }

  async function gotoNeighbour(step) {
    const k = state.neighbours.indexOf(state.imageId);
    const id = state.neighbours[k + step];
    if (!id) return notices.show("nav", step > 0 ? "This is the last image." : "This is the first image.", { level: "info" });
    await opening.open(id, { push: true });
  }

  async function gotoNextForMe() {
    try {
      const next = await nextImageFor(state.projectId, state.imageId);
      if (!next) return notices.show("nav", "No more images are waiting for you in this project.", { level: "info" });
      await opening.open(next.id, { push: true });
    } catch (err) {
      notices.show("nav", `Could not find the next image: ${err.message}`);
    }
  }

  // Back and forward reopen the image of that history entry; the first one is the page's own.
  function trackHistory() {
    window.addEventListener("popstate", (e) => e.state?.id && opening.open(e.state.id));
    history.replaceState({ id: state.imageId }, "");
  }

  return {
    prefetchAfter, loadNeighbours, trackHistory,
    actions: {
      nextImage: (step) => gotoNeighbour(step),
      prev: () => gotoNeighbour(-1),
      next: () => gotoNeighbour(1),
      "next-for-me": () => gotoNextForMe(),
    },
  };
}
