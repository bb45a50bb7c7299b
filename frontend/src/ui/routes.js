// Every server URL the pages use, in one table, so that a change in annotator/api/urls.py is a
// change here only. Where the API hands out a URL (image.file_url, image.embedding_url,
// project.sam_model.manifest_url) the page follows that one instead.
const q = (params) => {
  const s = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""));
  return s.toString() ? `?${s}` : "";
};

export const routes = {
  projects: () => "/api/projects/",
  project: (id) => `/api/projects/${id}/`,
  images: (projectId, filters = {}) => `/api/projects/${projectId}/images/${q(filters)}`,
  image: (id) => `/api/images/${id}/`,
  imageFile: (id) => `/api/images/${id}/file`,
  embedding: (id) => `/api/images/${id}/embedding`,
  atlas: (id) => `/api/images/${id}/atlas`,
  predict: (id) => `/api/images/${id}/predict`,
  annotations: (imageId) => `/api/images/${imageId}/annotations/`,
  annotation: (id) => `/api/annotations/${id}/`,
  lock: (id) => `/api/images/${id}/lock`,
  next: (projectId, after) => `/api/projects/${projectId}/next-image${q({ after })}`,
  // Submitting is a status change (PATCH image(id) {status}); a review carries a comment too.
  review: (id) => `/api/images/${id}/review`,
  issues: (imageId) => `/api/images/${imageId}/issues`,
  resolveIssue: (id) => `/api/issues/${id}/resolve`,
  jobs: (projectId) => `/api/projects/${projectId}/jobs/`,
  job: (id) => `/api/jobs/${id}/`,
  jobResult: (id) => `/api/jobs/${id}/result`,
  manifest: (sha256) => `/api/models/${sha256}/manifest.json`,
  members: (projectId) => `/api/projects/${projectId}/members/`,
  member: (projectId, userId) => `/api/projects/${projectId}/members/${userId}/`,
  labels: (projectId) => `/api/projects/${projectId}/labels/`,
  stats: (projectId) => `/api/projects/${projectId}/stats/`,
  label: (projectId, labelId) => `/api/projects/${projectId}/labels/${labelId}/`,
  exports: (projectId) => `/api/projects/${projectId}/exports/`,
  imports: (projectId) => `/api/projects/${projectId}/imports/`,
  history: (imageId, params = {}) => `/api/images/${imageId}/history${q(params)}`,
  historyRevert: (imageId) => `/api/images/${imageId}/history/revert`,
  textJobs: (projectId) => `/api/projects/${projectId}/text-jobs/`,
  textStatus: () => "/api/text/status",
  jobCancel: (id) => `/api/jobs/${id}/cancel`,
  jobRetry: (id) => `/api/jobs/${id}/retry`,
  embeddingSummary: (projectId) => `/api/projects/${projectId}/embeddings/`,
  detectors: () => "/api/detectors",
  checkpoints: () => "/api/models",
  proposals: (imageId, status) => `/api/images/${imageId}/proposals/${q({ status })}`,
  proposalsBulk: (imageId) => `/api/images/${imageId}/proposals/bulk`,
  proposalKeep: (id) => `/api/proposals/${id}/keep`,
  proposalDrop: (id) => `/api/proposals/${id}/drop`,
  // Shapes: label attributes (managers define them) and image tags.
  attributes: (projectId) => `/api/projects/${projectId}/attributes/`,
  attribute: (projectId, id) => `/api/projects/${projectId}/attributes/${id}/`,
  imageTag: (imageId, labelId) => `/api/images/${imageId}/tags/${labelId}`,
  labelOrder: (projectId) => `/api/projects/${projectId}/labels/order`,
  imagesBulk: (projectId) => `/api/projects/${projectId}/images/bulk`,
  thumbnail: (imageId) => `/api/images/${imageId}/thumbnail`,
  // Pages.
  annotatePage: (imageId) => `/images/${imageId}/annotate/`,
  imagesPage: (projectId) => `/projects/${projectId}/`,
  newProjectPage: () => "/projects/new/",
  datasetPage: (projectId) => `/projects/${projectId}/dataset/`,
  jobsPage: (projectId) => `/projects/${projectId}/jobs/`,
  dashboardPage: (projectId) => `/projects/${projectId}/dashboard/`,
};
