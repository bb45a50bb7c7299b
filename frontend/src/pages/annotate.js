// The annotation page for one image (and the next ones: N / P switch images in place, so the
// prefetched embedding of the next image is ready when you get there).
//
// This entry builds the page's parts (annotate/*.js over ui/*.js) and wires them: each part is
// handed the one state object (annotate/state.js) and the collaborators it uses. A new feature
// is a module plus a few lines here, at these points:
//   tools.register(mode, tool)            a stage tool: its pointer gestures, cursor, drawing
//   drawing.addMaskSource / addUiSource / addOverlay    what the mask and UI canvases show
//   controls.addActions({name: fn})       a shortcut (ui/keys.js) or a data-action button
//   tools.onModeChange(fn)                per-tool state to drop when the tool changes
//   opening.onSwitch(fn) / onOpened(fn)   per-image state to drop, or to load, on N / P
import { api } from "../ui/api.js";
import { AnnotationStore } from "../ui/annotations.js";
import { DecoderClient } from "../ui/decoder_client.js";
import { Notices } from "../ui/notices.js";
import { Layers } from "../ui/render.js";
import { routes } from "../ui/routes.js";
import { UndoStack } from "../ui/undo.js";
import { Viewport } from "../ui/viewport.js";
import { createAtlasHover } from "../annotate/atlas_hover.js";
import { createAttributesPanel } from "../annotate/attributes_panel.js";
import { createBoxTool } from "../annotate/box_tool.js";
import { createBrushTool } from "../annotate/brush_tool.js";
import { createControls } from "../annotate/controls.js";
import { $ } from "../annotate/dom.js";
import { createDrawing } from "../annotate/drawing.js";
import { createEditTool } from "../annotate/edit_tool.js";
import { createHistory } from "../annotate/history.js";
import { createFind } from "../annotate/find.js";
import { createNavigation } from "../annotate/navigation.js";
import { createOpening } from "../annotate/opening.js";
import { pageApi } from "../annotate/page_api.js";
import { createPanels } from "../annotate/panels.js";
import { createPointer } from "../annotate/pointer.js";
import { createPolygonTool } from "../annotate/polygon_tool.js";
import { createPrompting } from "../annotate/prompting.js";
import { createProposals } from "../annotate/proposals.js";
import { createSamTool } from "../annotate/sam_tool.js";
import { createSaving } from "../annotate/saving.js";
import { createState } from "../annotate/state.js";
import { createTagsPanel } from "../annotate/tags_panel.js";
import { createTools } from "../annotate/tools.js";
import { createWorkflow } from "../annotate/workflow.js";

const root = $("annotate");
const stage = $("stage");
const state = createState({ projectId: Number(root.dataset.projectId) });
const notices = new Notices($("notices"));
const view = new Viewport();
const layers = new Layers(stage);
const decoder = new DecoderClient(root.dataset.workerUrl, {
  onDown: (err) =>
    notices.show("worker", `The decoder failed (${err.message}). Your saved annotations are safe; reload to restart it.`, {
      actions: [{ label: "Reload page", run: () => location.reload() }],
    }),
});
// Both call back into parts built below; neither calls back before the page has started.
const store = new AnnotationStore({ onChange: () => (drawing.drawBase(), panels.renderAnnotationList()) });
const undo = new UndoStack({ onChange: () => controls.syncButtons() });

const drawing = createDrawing({ state, layers, view, store });
const tools = createTools({ state, drawing });
const prompting = createPrompting({ state, decoder, drawing, undo, notices });
const atlasHover = createAtlasHover({ state, drawing, prompting, notices });
const saving = createSaving({ state, store, undo, notices, drawing, prompting });
const panels = createPanels({ state, store, drawing, tools, saving });
const workflow = createWorkflow({ state, notices, view, stage });
const opening = createOpening({ state, root, decoder, store, undo, view, drawing, workflow, notices });
// A decision hands the image back to the annotator: the reviewer's page lets go of it and stays
// read-only. Other steps change who may edit (submit: nobody but reviewers; reopen: the team
// again), so the image is opened afresh and the lock taken if it may be.
workflow.onStep(async (step) => {
  if (step !== "accept" && step !== "reject") return opening.open(state.imageId);
  opening.release();
  state.readOnly = true;
  await workflow.refresh();
});
const navigation = createNavigation({ state, notices, opening });
const controls = createControls({ state, root, view, tools, drawing, prompting, panels, undo, notices });
const find = createFind({ state, notices });
const proposals = createProposals({ state, store, drawing, notices, tools });

const sam = createSamTool({ state, prompting, drawing });
const edit = createEditTool({ state, store, view, drawing, saving, panels, notices });
const polygon = createPolygonTool({ state, view, drawing, saving, panels, notices });
const brush = createBrushTool({ state, store, drawing, saving, notices });
tools.register("sam", sam);
tools.register("select", edit);
tools.register("polygon", polygon);
tools.register("brush", brush);
tools.register("eraser", brush);
tools.register("proposal-box", proposals.boxTool);
// Shapes: boxes (and M, box to SAM mask), the image's tags, the selected object's attributes.
const box = createBoxTool({ state, store, view, drawing, saving, panels, notices, prompting, undo });
const tags = createTagsPanel({ state, notices });
const attributes = createAttributesPanel({ state, store, undo, notices });
tools.register("box", box);
drawing.addOverlay(box.overlay);
panels.onListRender(attributes.render);
tools.onModeChange(prompting.modeChanged);
tools.onModeChange(edit.modeChanged);
tools.onModeChange(polygon.modeChanged);
createPointer({ state, stage, view, tools, drawing });

// Mask sources added later lie on top: a brush stroke shows over the SAM object's mask.
drawing.addMaskSource(prompting.mask);
drawing.addMaskSource(atlasHover.mask);
drawing.addMaskSource(brush.mask);
for (const part of [prompting, sam, edit, brush]) drawing.addUiSource(part.ui);
drawing.addOverlay(edit.overlay);
drawing.addOverlay(polygon.overlay);
drawing.addOverlay(proposals.overlay);
drawing.addOverlay(atlasHover.overlay);
stage.addEventListener("mousemove", (e) => {
  const r = stage.getBoundingClientRect();
  proposals.hover(view.toImage(e.clientX - r.left, e.clientY - r.top));
});

for (const part of [tools, prompting, saving, panels, workflow, navigation, edit, brush, atlasHover, box, tags]) controls.addActions(part.actions);
controls.addActions(proposals.actions);

const history = createHistory({ state, store, notices, drawing, panels, undo });
controls.addActions(history.actions);
opening.onSwitch(history.reset);
opening.onSwitch(prompting.reset);
opening.onSwitch(polygon.reset);
opening.onSwitch(() => proposals.forget());
controls.addActions(find.actions);
opening.onSwitch(find.reset);
opening.onOpened((id) => proposals.load(id));
// Fetched as the image opens, beside its embedding: the first hover paint needs only the atlas.
opening.onSwitch((id) => void atlasHover.load(id));
opening.onOpened(navigation.prefetchAfter);
opening.onOpened(() => (tags.render(), attributes.render()));

async function main() {
  drawing.trackSize();
  tools.setMode("sam");
  controls.syncButtons();
  const project = await api(routes.project(state.projectId));
  Object.assign(state, { project, role: project.role });
  panels.setLabels(project.labels);
  tags.setLabels(project.labels);
  navigation.loadNeighbours();
  find.loadStatus();
  const decoderLoaded = opening.startDecoding(project);
  const first = opening.open(Number(root.dataset.imageId)).catch((err) => notices.show("image", `Could not open the image: ${err.message}`));
  await Promise.all([decoderLoaded.catch(() => {}), first]);
  window.addEventListener("pagehide", () => opening.release());
  navigation.trackHistory();
}

window.annotator = pageApi({ ready: main(), state, store, undo, view, stage, decoder, drawing, prompting, saving, atlasHover });
