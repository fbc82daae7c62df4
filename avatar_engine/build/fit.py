"""Stage 2, reconstruction: identity, camera and expression fitted to MediaPipe's landmarks, then neutralised.

Unknowns: 6 phenotypes and 139 shape changes (identity), the head's rotation and translation in the camera and the
focal length (camera), the 52 ARKit weights (expression, started from MediaPipe's scores less their bias on our
faces). Levenberg-Marquardt on the weighted landmark reprojection error, in units of the inter-ocular distance,
with Gaussian priors on every parameter and box limits; first the camera alone, then everything; when the photo's
expression is stronger than the correction's training faces, again with the identity kept from mimicking it
(`expression_lock`). The rest face is the identity without the expression (neutralised); a smooth, regularised
per-vertex residual then moves the face toward landmarks the shape changes could not reach.
MediaPipe's points sit 2-4 % of the inter-ocular distance off our correspondence points, in a way that depends on
the face; `LandmarkCorrection` (learnt on known-truth renders) moves them back and centres the identity prior on
what the landmarks predict. A last few steps then fit the camera (and, held close, the identity) to MediaPipe's raw
points: the reported reprojection error is against what the tracker sees in the photo, not the corrected points.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from avatar_engine.build.confound import HOLD, confound_strength, held_sigma, hold_confounded
from avatar_engine.build.expression_lock import expression_excess, lock_rows, residual_trust
from avatar_engine.build.landmark_model import Correspondence, LandmarkCorrection, LandmarkModel
from avatar_engine.build.perception import EYE_CORNERS, Perception
from avatar_engine.build.records import FitResult, PhotoView
from avatar_engine.errors import InputError
from avatar_engine.head.model import HeadModel
from avatar_engine.records import Expression

RECON_MODES = ("off", "prior", "replace")
UNSEEN_CHANGE_M = 0.0005
"""A shape change that moves no landmark point this far (metres, at full weight) is unseen by the fit: its prior
stays the population's (0), whatever a learnt prior predicts for it. A regression of it on the landmarks has no
signal to follow and, on a photo unlike its training faces, extrapolates: grace_hopper.jpg's capped head got
forehead-scale-vert -0.89, which lowers the crown 3.4 cm behind the hairline (a flat-topped skull with a crease
lit white along it), and her ears and neck their own guesses."""
EYE_DISTANCE_M = (0.0623, 0.0647)
"""Mean interpupillary distance of adult women and men (Dodgson 2004, 3,976 adults: 62.3 and 64.7 mm, sd 3.6)."""
CHILD_EYE_DISTANCE = ((5.0, 0.81), (10.0, 0.88), (15.0, 0.94), (19.0, 1.0))
"""(years, fraction of the adult distance): eye distance grows through childhood (about 51 mm at five, 55 at ten,
59 at fifteen)."""
PHOTO_SCALE_LADDER = (0.25, 0.5, 1.0, 2.0)
"""With a reprojection goal, the final photo steps' identity freedom: these multiples of photo_identity_scale,
tried after the camera alone."""


@dataclass(frozen=True)
class FitOptions:
    """How hard the fit works and how much it trusts the head model's average face."""

    camera_iterations: int = 8
    """Levenberg-Marquardt steps on the camera alone (mean face, MediaPipe's expression)."""
    iterations: int = 14
    """Steps on camera, identity and expression together."""
    landmark_sigma: float = 0.012
    """Expected landmark noise as a fraction of the inter-ocular distance (MediaPipe's jitter)."""
    change_sigma: float = 0.45
    """Prior standard deviation of each shape change (their range is [-1, 1])."""
    phenotype_sigma: float = 0.3
    """Prior standard deviation of each phenotype about 0.5 (their range is [0, 1])."""
    expression_sigma: float = 0.25
    """Prior standard deviation of each expression weight about MediaPipe's (de-biased) score."""
    focal_fov_deg: float = 30.0
    """Prior vertical field of view of the photo's camera."""
    focal_log_sigma: float = 0.5
    """Prior standard deviation of log(focal length)."""
    residual_sigma_m: float = 0.012
    """Reach of the per-vertex residual: Gaussian kernel radius around each landmark, metres."""
    residual_damping: float = 1.0
    """Regularisation of the residual (kernel ridge); larger keeps it smaller and smoother."""
    residual_max_m: float = 0.004
    """The residual never moves a vertex further than this."""
    use_residual: bool = True
    photo_iterations: int = 6
    """Final steps toward MediaPipe's raw points (not the corrected ones) on the camera and, a little, the identity."""
    photo_identity_scale: float = 0.08
    """In those final steps the identity may also move, about its settled value, with the corrected prior's
    standard deviations times this (0: the identity stays as settled). On seeds 1000-1019 / 1100-1139, with the
    expression also free: 0 gives reprojection max 3.5% / 3.3% IOD at 1.66 / 1.50 mm; 0.08 gives 2.9% / 2.6% at
    1.65 / 1.53 mm; 0.3 gives 1.9% / 2.1% but 1.85 / 1.70 mm (the raw points pull the face toward MediaPipe's own
    errors). With the expression held: 0.08 gives 2.5% / 2.6% at 1.64 / 1.56 mm. 0 holds the identity and fits
    the camera alone (before, a 0 / 0 in the identity prior stopped the camera too: the steps did nothing); on seeds
    1100-1139 + 1200-1239 that is 1.60 mm (default 1.69) but 7/80 photos above 3% IOD (max 4.1%)."""
    photo_reprojection_goal: float = 0.025
    """When > 0, the final steps free the identity only as far as the reprojection needs: the camera alone first,
    then the identity at photo_identity_scale times each of `PHOTO_SCALE_LADDER` in turn, until the reprojection
    error against MediaPipe's raw points is at most this (fraction of the inter-ocular distance). 0: the identity
    is freed at photo_identity_scale at once. With 0.025 and identity_prior_scale 0.25 (chosen on seeds
    1100-1139 + 1200-1239): median face error 1.693 -> 1.587 mm there, 1.664 -> 1.613 on seeds 1300-1359 +
    1400-1459, 1.680 -> 1.507 on build_accuracy's 1000-1019 (checked once), reprojection within 3% on all
    (max 2.5%); the photos stay within target (astronaut reprojection 2.34 -> 2.31%, render check 1.7 -> 1.8%;
    grace_hopper 1.72 -> 2.18%, 1.3 -> 1.5%). With recon="prior" instead of the narrowed prior: 1.531 / 1.559 /
    1.568 mm (means 1.563 / 1.585 / 1.559, against the default's 1.724 / 1.725 / 1.671), max 2.7% IOD; astronaut
    2.31%, render check 2.1%; grace_hopper 2.25%, 1.5%. The default since session 6, with the expression hold
    on (expression_hold): 1.700 -> 1.598 mm (mean 1.706 -> 1.666) on 1100-1139 + 1200-1239, 1.660 -> 1.601 (mean
    1.725 -> 1.656) on 1300-1359 + 1400-1459, reprojection within 3% 80/80 and 120/120 (79/80 and 119/120
    before). Neither this nor recon="prior" reaches 1.5 mm: MediaPipe's raw points lie a median 3.1% IOD from the
    true points, and with perfect landmarks the same fit gives 0.85 mm."""
    photo_expression: bool = False
    """Whether those final steps move the expression too. Off: it soaks up MediaPipe's errors (mean weight error
    0.04 -> 0.10 on seeds 1000-1019, a 0.5 smile read as 0.1) for little (reprojection max 2.9% against 2.5%)."""
    landmark_correction: bool = True
    """Correct MediaPipe's points and centre the identity prior with `assets/head/landmark_correction.npz`."""
    correction_noise: float = 0.0
    """When > 0, weigh each corrected landmark by the correction's held-out error (`offset_sigma`) times this
    instead of by its spread across views (1.0: 1.64 / 1.49 mm, within noise of the default, so off)."""
    expression_hold: float = HOLD
    """Shape changes whose landmark motion mimics the photo's expression are pulled to the mean face and their prior
    narrowed by up to this fraction (`avatar_engine.build.confound`; 0: off), so a smile is read as a smile, not as
    a face whose mouth corners sit high (astronaut rest face mouthSmile 0.49/0.53 against 0.68/0.71 without)."""
    identity_prior_scale: float = 0.25
    """Widens (> 1) or narrows the corrected identity prior's standard deviations (the final photo steps still free
    the identity by the un-narrowed ones times photo_identity_scale). The prior comes from the same landmarks the
    fit then uses (their corrected points are 2.4% IOD off the truth held out, against landmark_sigma 1.2%), so
    narrowing it mostly stops the landmarks being counted twice: with the photo steps held to the camera, seeds
    1100-1139 + 1200-1239 give 1.60 / 1.60 / 1.59 / 1.58 mm at 1 / 0.5 / 0.25 / 0.1."""
    expression_lock: bool = True
    """When the photo's expression goes beyond the mild range (read so by MediaPipe and the fit alike), the identity
    may not move the landmarks as that expression does, and the residual does not follow them where it moves them
    (`avatar_engine.build.expression_lock`): the fit runs again with the expression taking what the identity gave
    up. Astronaut rest mouthSmile 0.37/0.40 -> 0.13/0.16 (with the correction then learnt on mild expressions only);
    mild expressions are left alone (build_accuracy's median unchanged, 1.50 mm)."""
    recon: str = "off"
    """The reconstruction network (`assets/models/recon.onnx`, `avatar_engine.nets.recon_net`): "off" (the
    landmark correction's ridge prior), "prior" (the network's identity and its held-out error are the identity
    prior, its expression the expression prior; then the fit as usual) or "replace" (the network's identity and
    expression are kept and only the camera is fitted, to MediaPipe's raw points). Off by default: see
    assets/models/recon.md for what it wins and loses (benchmarks/recon_net.py)."""
    recon_model: str | None = None
    """ONNX file of the reconstruction network (its .json card beside it); None = the shipped one."""
    recon_backend: str = "auto"
    """Inference backend of the reconstruction network (`avatar_engine.infer`): auto, tensorrt, onnxruntime or torch.
    The builder sets it from `BuildOptions.backend`."""
    recon_device: str = "auto"
    """...and its device: auto, cpu or cuda (the builder sets it too)."""
    recon_prior_scale: float = 0.25
    """With recon="prior", the identity prior's standard deviations are the network's held-out rms error times this
    (in place of identity_prior_scale). Chosen on held-out training seeds (see assets/models/recon.md): looser
    lets the landmarks pull the face toward MediaPipe's errors, tighter leaves the reprojection to the camera."""
    recon_expression: bool = True
    """With recon="prior", start the expression from the network's weights instead of MediaPipe's scores."""
    real_size: bool = True
    """Size the head as people are: the head model's height setting, which scales the head almost uniformly (once
    the scale is taken out the face's landmarks move a median 0.2 mm between settings 0.4 and 0.8, 0.6 mm from 0 to
    1) and so is all but invisible to them, is set so that the eyes lie `eye_distance_m` apart for the fitted gender
    and age; the camera then stands off to match. The model's small children cannot reach a child's distance: their
    height setting stays at its top (a fitted age of 0.1 gives eyes 50 mm apart against 52 wanted). A photo
    cannot tell a head's size from its distance: left to the landmark correction's guess, the astronaut's eyes came
    out 50 mm apart (an adult's are 62-65) and grace_hopper's 52, and a re-saved JPEG of the astronaut flipped
    hers between 50 and 61 mm."""

    def __post_init__(self) -> None:
        if self.recon not in RECON_MODES:
            raise InputError(f"recon must be one of {', '.join(RECON_MODES)}, got {self.recon!r}")


# --- camera --------------------------------------------------------------------------------------------------------
def _rodrigues(w: np.ndarray) -> np.ndarray:
    theta = float(np.linalg.norm(w))
    if theta < 1e-12:
        return np.eye(3)
    k = w / theta
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * kx + (1 - np.cos(theta)) * kx @ kx


def _skew(v: np.ndarray) -> np.ndarray:
    """(n, 3) -> (n, 3, 3) cross-product matrices."""
    z = np.zeros(len(v))
    return np.stack([np.stack([z, -v[:, 2], v[:, 1]], 1), np.stack([v[:, 2], z, -v[:, 0]], 1),
                     np.stack([-v[:, 1], v[:, 0], z], 1)], 1)


@dataclass
class _State:
    params: np.ndarray
    """Packed identity + expression (LandmarkModel order)."""
    rotation: np.ndarray
    translation: np.ndarray
    log_focal: float


def _project(points: np.ndarray, st: _State, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    cam = points @ st.rotation.T + st.translation
    f, depth = np.exp(st.log_focal), -cam[:, 2]
    uv = np.stack([size[0] / 2 + f * cam[:, 0] / depth, size[1] / 2 - f * cam[:, 1] / depth], 1)
    return uv, cam


def _projection_jacobian(cam: np.ndarray, f: float) -> np.ndarray:
    """(n, 2, 3) d(pixel)/d(camera-space point)."""
    s = -cam[:, 2]
    j = np.zeros((len(cam), 2, 3))
    j[:, 0, 0] = f / s
    j[:, 0, 2] = f * cam[:, 0] / s ** 2
    j[:, 1, 1] = -f / s
    j[:, 1, 2] = -f * cam[:, 1] / s ** 2
    return j


# --- the solver ----------------------------------------------------------------------------------------------------
class _Problem:
    def __init__(self, lm: LandmarkModel, target: np.ndarray, weights: np.ndarray, size: tuple[int, int],
                 iod: float, prior_mean: np.ndarray, prior_sigma: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 focal_prior: float, options: FitOptions) -> None:
        self.lm, self.target, self.size = lm, target, size
        self.row_weight = np.repeat(weights, 2) / (options.landmark_sigma * iod)
        self.prior_mean, self.prior_sigma = prior_mean, prior_sigma
        self.lower, self.upper = lower, upper
        self.focal_prior, self.focal_sigma = focal_prior, options.focal_log_sigma
        self.free = np.arange(lm.size)
        """Packed parameters the shape steps move (all, or the expression alone once the identity is settled)."""
        self.offset = np.zeros((lm.count, 3))
        """(468, 3) fixed model-space offsets added to the landmark points (the per-vertex residual)."""
        self.lock = np.zeros((0, lm.count * 3))
        """(k, 468 * 3) prior rows on the identity's landmark motion from the mean face (`expression_lock`)."""
        self.mean_face = lm.points(np.concatenate([np.full(lm.n_phen, 0.5), np.zeros(lm.n_change + 52)])).ravel()

    def locked(self, params: np.ndarray) -> np.ndarray:
        """(k,) the lock rows' residuals: the identity alone (no expression), measured from the mean face."""
        if not len(self.lock):
            return np.zeros(0)
        still = params.copy()
        still[self.lm.n_phen + self.lm.n_change:] = 0.0
        return self.lock @ (self.lm.points(still).ravel() - self.mean_face)

    def points(self, params: np.ndarray) -> np.ndarray:
        return self.lm.points(params) + self.offset

    def residuals(self, st: _State) -> np.ndarray:
        uv, _ = _project(self.points(st.params), st, self.size)
        data = (uv - self.target).ravel() * self.row_weight
        prior = (st.params - self.prior_mean) / self.prior_sigma
        return np.concatenate([data, prior, [(st.log_focal - self.focal_prior) / self.focal_sigma],
                               self.locked(st.params)])

    def jacobian(self, st: _State, shape: bool) -> np.ndarray:
        """Columns: 3 rotation, 3 translation, 1 log focal, then the packed parameters if `shape`."""
        uv, cam = _project(self.points(st.params), st, self.size)
        f = float(np.exp(st.log_focal))
        dproj = _projection_jacobian(cam, f)  # (n, 2, 3)
        rotated = cam - st.translation
        d_rot = np.einsum("nij,njk->nik", dproj, -_skew(rotated))  # left-multiplied rotation update
        d_trans = dproj
        d_focal = (uv - np.array(self.size) / 2)[:, :, None]
        blocks = [d_rot, d_trans, d_focal]
        if shape:
            d_points = self.lm.jacobian(st.params)
            blocks.append(np.matmul(dproj @ st.rotation, d_points[:, :, self.free]))
        jd = np.concatenate(blocks, 2).reshape(-1, sum(b.shape[2] for b in blocks)) * self.row_weight[:, None]
        n_cam, n_par = 7, self.lm.size
        jp = np.zeros((n_par + 1, jd.shape[1]))
        if shape:
            jp[self.free, n_cam + np.arange(len(self.free))] = 1.0 / self.prior_sigma[self.free]
        jp[n_par, 6] = 1.0 / self.focal_sigma
        jl = np.zeros((len(self.lock), jd.shape[1]))
        if shape and len(self.lock):
            ids = np.flatnonzero(self.free < self.lm.n_phen + self.lm.n_change)  # the expression is not locked
            jl[:, n_cam + ids] = self.lock @ d_points.reshape(-1, n_par)[:, self.free[ids]]
        return np.vstack([jd, jp, jl])

    def step(self, st: _State, delta: np.ndarray, shape: bool) -> _State:
        params = st.params
        if shape:
            params = params.copy()
            f = self.free
            params[f] = np.clip(params[f] + delta[7:], self.lower[f], self.upper[f])
        return _State(params, _rodrigues(delta[:3]) @ st.rotation, st.translation + delta[3:6],
                      st.log_focal + float(delta[6]))

    def solve(self, st: _State, iterations: int, shape: bool) -> _State:
        r = self.residuals(st)
        cost, damping = float(r @ r), 1e-3
        for _ in range(iterations):
            jac = self.jacobian(st, shape)
            jtj, jtr = jac.T @ jac, jac.T @ r
            improved = False
            for _ in range(6):
                a = jtj + damping * (np.diag(np.diag(jtj)) + 1e-9 * np.eye(len(jtj)))
                trial = self.step(st, np.linalg.solve(a, -jtr), shape)
                r_trial = self.residuals(trial)
                c_trial = float(r_trial @ r_trial)
                if c_trial < cost:
                    st, r, improved = trial, r_trial, cost - c_trial > 1e-7 * cost
                    cost, damping = c_trial, max(damping / 3, 1e-7)
                    break
                damping *= 4
            if not improved:
                break
        return st


def expression_prior(scores: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """MediaPipe's scores with its bias on our faces taken out: (52,) in [0, 1]."""
    bias = np.clip(bias, 0.0, 0.9)
    return np.clip((scores - bias) / (1 - bias), 0.0, 1.0)


def _initial_pose(lm: LandmarkModel, params: np.ndarray, perception: Perception, focal: float) -> _State:
    """MediaPipe's head rotation, and a translation that puts the mean face over the landmarks at their size."""
    rotation = perception.pose[:3, :3].astype(np.float64)
    u, s, vt = np.linalg.svd(rotation)
    rotation = u @ vt
    pts = lm.points(params) @ rotation.T
    w, h = perception.size
    model_iod = np.linalg.norm(pts[EYE_CORNERS[0], :2] - pts[EYE_CORNERS[1], :2])
    depth = focal * model_iod / max(perception.inter_ocular_px, 1.0)
    centre = perception.points_px[:468].mean(0)
    ray = np.array([(centre[0] - w / 2) / focal, -(centre[1] - h / 2) / focal, -1.0])
    translation = ray * depth - pts.mean(0)
    return _State(params, rotation, translation, float(np.log(focal)))


def fit_landmarks(perception: Perception, model: HeadModel | None = None, options: FitOptions | None = None,
                  correspondence: Correspondence | None = None,
                  correction: LandmarkCorrection | None = None, recon=None) -> FitResult:
    """Fit the head model to the perceived face; the rest face is neutral, the photo's expression kept apart.

    With `options.landmark_correction` (default) MediaPipe's points are first moved onto the correspondence
    points they stand for and the identity prior is centred on what the landmarks predict (`correction`, default
    the shipped asset). With `options.recon` on, `recon` (a `ReconPrediction`; default: the network of
    `options.recon_model` run on `perception`) sets the identity prior, or replaces the shape fit.
    """
    model = model or HeadModel.default()
    options = options or FitOptions()
    corr = correspondence or Correspondence.default()
    lm = LandmarkModel(model, corr)
    n_phen, n_change = lm.n_phen, lm.n_change
    expr0 = expression_prior(perception.scores, corr.neutral_scores)
    mean = np.concatenate([np.full(n_phen, 0.5), np.zeros(n_change), expr0])
    sigma = np.concatenate([np.full(n_phen, options.phenotype_sigma), np.full(n_change, options.change_sigma),
                            np.full(52, options.expression_sigma)])
    lower = np.concatenate([np.zeros(n_phen), -np.ones(n_change), np.zeros(52)])
    upper = np.concatenate([np.ones(n_phen), np.ones(n_change), np.ones(52)])
    target = perception.points_px[:468]
    n_id = n_phen + n_change
    photo_sigma = None  # the final photo steps let the identity move by the prior's own spread (the correction's or
    # the network's held-out error, not the narrowed prior's) times photo_identity_scale
    if options.landmark_correction:
        correction = correction or LandmarkCorrection.default()
        names = tuple(model.phenotype_names) + tuple(model.change_names)
        depth = perception.depth[:468]
        prior_mean, prior_sigma = correction.identity_prior(target, names, depth)
        # the prior is never wider than the uninformed one
        mean[:n_id] = np.clip(prior_mean, lower[:n_id], upper[:n_id])
        photo_sigma = np.minimum(prior_sigma, sigma[:n_id])
        sigma[:n_id] = np.minimum(prior_sigma * options.identity_prior_scale, sigma[:n_id])
        target = correction.landmarks(target, depth)
    if options.expression_hold > 0:
        strength = confound_strength((lm.change_plus - lm.change_minus) / 2, lm.expression, expr0)
        mean[n_phen:n_id], sigma[n_phen:n_id] = hold_confounded(mean[n_phen:n_id], sigma[n_phen:n_id], strength,
                                                                options.expression_hold)
        if photo_sigma is not None:  # the photo steps may not undo the hold either
            photo_sigma[n_phen:] = held_sigma(photo_sigma[n_phen:], strength, options.expression_hold)
    if options.recon != "off":
        recon = recon or recon_network(options.recon_model, options.recon_backend, options.recon_device).predict(perception.points_px, perception.depth)
        mean[:n_id] = np.clip(recon.identity, lower[:n_id], upper[:n_id])
        photo_sigma = np.minimum(recon.identity_sigma, sigma[:n_id])
        sigma[:n_id] = np.minimum(recon.identity_sigma * options.recon_prior_scale, sigma[:n_id])
        if options.recon_expression or options.recon == "replace":
            mean[n_id:] = np.clip(recon.expression, 0.0, 1.0)
            mean[n_id + 51] = 0.0  # tongueOut stays in (below)
    mean[n_phen:n_id][lm.unseen_changes(UNSEEN_CHANGE_M)] = 0.0  # what the landmarks cannot tell stays average
    upper[n_phen + n_change + 51] = 0.0  # tongueOut: MediaPipe never sees the tongue; keep it in
    w, h = perception.size
    focal0 = h / 2 / np.tan(np.radians(options.focal_fov_deg) / 2)
    iod = perception.inter_ocular_px
    weights = corr.weights
    if options.landmark_correction and options.correction_noise > 0 and correction.offset_sigma is not None:
        # each corrected point weighed by how far it was from the truth in training (held out)
        weights = options.landmark_sigma / (options.correction_noise * correction.offset_sigma)
    problem = _Problem(lm, target, weights, (w, h), iod, mean, sigma, lower, upper, float(np.log(focal0)),
                       options)
    raw = perception.points_px[:468]
    st = _initial_pose(lm, mean.copy(), perception, focal0)
    if options.recon == "replace":
        return _camera_only(model, lm, corr, problem, st, perception, options)
    st = problem.solve(st, options.camera_iterations, shape=False)
    st = problem.solve(st, options.iterations, shape=True)
    excess = np.zeros(52)
    if options.expression_lock:
        excess = expression_excess(expr0, lm.split(st.params)[2])
        problem.lock = lock_rows(lm.expression, excess, face=problem.mean_face)
        if len(problem.lock):  # the lock stays on for the photo steps too
            st = problem.solve(st, options.iterations, shape=True)

    sized = options.real_size and "height" in model.phenotype_names
    if sized:
        st = _sized(model, lm, problem, st, options.camera_iterations)
        if photo_sigma is not None:
            photo_sigma[model.phenotype_names.index("height")] = SIZE_HELD

    residual = np.zeros((len(model.positions), 3))
    identity, neutral, posed, view, weights = _in_photo(model, lm, st, residual, (w, h))
    if options.use_residual:
        trust = residual_trust(lm.expression, excess, options.residual_max_m)
        residual = landmark_residual(model, corr, posed, view, target, view.project(corr.points(posed)), options,
                                     trust)
        identity, neutral, posed, view, weights = _in_photo(model, lm, st, residual, (w, h))
    if options.photo_iterations > 0:
        # the face is settled on the corrected points; the camera (and, held close by photo_identity_scale, the
        # identity) now follow MediaPipe's own points, so that the avatar driven with the photo's expression lands
        # where the tracker sees the face
        problem.target, problem.offset = raw, corr.points(residual)
        problem.row_weight = np.repeat(corr.weights, 2) / (options.landmark_sigma * iod)
        problem.prior_mean = np.concatenate([st.params[:n_id], problem.prior_mean[n_id:]])
        settled_sigma = problem.prior_sigma[:n_id] if photo_sigma is None else photo_sigma
        expression_sigma = problem.prior_sigma[n_id:]
        for scale in photo_scales(options):
            # held (scale 0), the identity is not a free parameter and its prior term stays 0 (not 0 / 0)
            problem.prior_sigma = np.concatenate([settled_sigma * (scale if scale > 0 else 1.0), expression_sigma])
            free = [np.arange(n_id)] if scale > 0 else []
            if options.photo_expression:
                free.append(np.arange(n_id, lm.size))
            if free:
                problem.free = np.concatenate(free)
            st = problem.solve(st, options.photo_iterations, shape=bool(free))
            identity, neutral, posed, view, weights = _in_photo(model, lm, st, residual, (w, h))
            if _reprojection(corr, raw, posed, view, iod) <= options.photo_reprojection_goal:
                break
        if sized:  # the photo steps' shape changes moved the eyes a little (PNG and JPEG of one photo: 2.7 mm apart)
            st = _sized(model, lm, problem, st, options.photo_iterations)
            identity, neutral, posed, view, weights = _in_photo(model, lm, st, residual, (w, h))
    return _result(model, corr, perception, identity, residual, weights, view, neutral, posed, iod)


def _sized(model: HeadModel, lm: LandmarkModel, problem: _Problem, st: _State, iterations: int) -> _State:
    """`FitOptions.real_size`: the height setting chosen for the identity (`real_size_height`) and held there, then
    the camera alone re-fitted: it stands off to the head's new size."""
    height = model.phenotype_names.index("height")
    st.params[height] = real_size_height(model, lm.identity(st.params))
    problem.prior_mean[height], problem.prior_sigma[height] = st.params[height], SIZE_HELD
    return problem.solve(st, iterations, shape=False)


SIZE_HELD = 1e-3
"""Prior standard deviation of the height setting once `real_size` has chosen it: the later steps keep it."""


def eye_distance_m(identity: dict[str, float]) -> float:
    """The expected distance between the eyes' centres (metres) for the head model's gender and age settings."""
    women, men = EYE_DISTANCE_M
    adult = women + (men - women) * float(np.clip(identity.get("gender", 0.5), 0.0, 1.0))
    years = 1.0 + 48.0 * float(identity.get("age", 0.5))  # MakeHuman: 0 one year, 0.5 twenty-five, linear between
    ages, fractions = zip(*CHILD_EYE_DISTANCE)
    return adult * float(np.interp(years, ages, fractions))


def real_size_height(model: HeadModel, identity: dict[str, float]) -> float:
    """The height setting in [0, 1] at which the identity's eyes lie `eye_distance_m` apart (bisection: the
    distance grows with the setting, 50 to 68 mm over [0.1, 0.9] on the average face)."""
    target = eye_distance_m(identity)
    left, right = model.joint_names.index("eye_L"), model.joint_names.index("eye_R")

    def apart(h: float) -> float:
        joints = model.joint_positions({**identity, "height": h})
        return float(np.linalg.norm(joints[left] - joints[right]))

    lo, hi = 0.0, 1.0
    if apart(hi) <= target:
        return hi
    if apart(lo) >= target:
        return lo
    for _ in range(20):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if apart(mid) < target else (lo, mid)
    return 0.5 * (lo + hi)


@cache
def recon_network(path: str | None = None, backend: str = "auto", device: str = "auto"):
    """The reconstruction network at `path` (None: the shipped one) on `backend` and `device`, opened once per
    process."""
    from avatar_engine.nets.recon_net import MODEL_PATH, ReconNet

    return ReconNet.open(Path(path) if path else MODEL_PATH, backend=backend, device=device)


def _camera_only(model: HeadModel, lm: LandmarkModel, corr: Correspondence, problem: _Problem, st: _State,
                 perception: Perception, options: FitOptions) -> FitResult:
    """recon="replace": the identity and expression as the network gave them; the camera fitted to MediaPipe's raw
    points (camera steps, then the final photo steps' count again)."""
    iod = perception.inter_ocular_px
    problem.target = perception.points_px[:468]
    problem.row_weight = np.repeat(corr.weights, 2) / (options.landmark_sigma * iod)
    st = problem.solve(st, options.camera_iterations + options.photo_iterations, shape=False)
    residual = np.zeros((len(model.positions), 3))
    identity, neutral, posed, view, weights = _in_photo(model, lm, st, residual, perception.size)
    return _result(model, corr, perception, identity, residual, weights, view, neutral, posed, iod)


def photo_scales(options: FitOptions) -> tuple[float, ...]:
    """The identity's freedom in the final photo steps, tried in turn until the reprojection goal is met."""
    if options.photo_reprojection_goal <= 0 or options.photo_identity_scale <= 0:
        return (options.photo_identity_scale,)
    return (0.0,) + tuple(options.photo_identity_scale * f for f in PHOTO_SCALE_LADDER)


def _reprojection(corr: Correspondence, raw: np.ndarray, posed: np.ndarray, view: PhotoView, iod: float) -> float:
    """Mean distance of the posed landmark points, through the photo's camera, from MediaPipe's raw points / IOD."""
    return float(np.linalg.norm(view.project(corr.points(posed)) - raw, axis=1).mean() / iod)


def _result(model: HeadModel, corr: Correspondence, perception: Perception, identity: dict[str, float],
            residual: np.ndarray, weights: np.ndarray, view: PhotoView, neutral: np.ndarray, posed: np.ndarray,
            iod: float) -> FitResult:
    reprojection = _reprojection(corr, perception.points_px[:468], posed, view, iod)  # against MediaPipe's own points
    warnings = []
    at_limit = [n for n, v in identity.items() if n in model.change_names and abs(v) > 0.98]
    if at_limit:
        warnings.append(f"shape changes at their limit: {', '.join(at_limit[:5])}")
    return FitResult(identity=identity, residual=residual.astype(np.float32),
                     photo_expression=Expression(weights), view=view,
                     neutral_positions=neutral.astype(np.float32), posed_positions=posed.astype(np.float32),
                     landmarks_px=perception.points_px.copy(), reprojection_error=reprojection,
                     warnings=tuple(warnings))


def _in_photo(model: HeadModel, lm: LandmarkModel, st: _State, residual: np.ndarray, size: tuple[int, int]
              ) -> tuple[dict[str, float], np.ndarray, np.ndarray, PhotoView, np.ndarray]:
    """The fitted state as an avatar: identity, neutral and posed (n, 3) vertices, the photo's camera, weights (52,).

    Some phenotypes (age, height, gender) move the whole head with its neck joint; an avatar keeps the neck joint at
    the origin, so the mesh is shifted there and the shift folded into the camera.
    """
    identity = lm.identity(st.params)
    weights = lm.split(st.params)[2].astype(np.float32)
    neck = model.joint_positions(identity)[model.joint_names.index("neck")].astype(np.float64)
    neutral = model.neutral_positions(identity).astype(np.float64) - neck + residual
    posed = neutral + np.tensordot(weights, model.expression_offsets, 1)
    shifted = _State(st.params, st.rotation, st.translation + st.rotation @ neck, st.log_focal)
    view = PhotoView(size=size, view=_view_matrix(shifted), focal_px=float(np.exp(st.log_focal)))
    return identity, neutral, posed, view, weights


def _view_matrix(st: _State) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = st.rotation, st.translation
    return m


def landmark_residual(model: HeadModel, corr: Correspondence, posed: np.ndarray, view: PhotoView,
                      target: np.ndarray, uv: np.ndarray, options: FitOptions,
                      trust: np.ndarray | None = None) -> np.ndarray:
    """(n, 3) smooth per-vertex offsets that move the landmarks toward their photo positions, in the image plane.

    Each landmark's pixel error is lifted to metres at its depth, turned into model space, and spread over the skin
    by Gaussian-kernel ridge regression; silhouette (contour) landmarks and non-skin parts are left out.
    trust : (468,) optional factors in [0, 1] on each landmark's error (0: the residual does not follow it).
    """
    points = corr.points(posed)
    depth = view.depth(points)
    error_cam = np.zeros((len(points), 3))
    error_cam[:, 0] = (target[:, 0] - uv[:, 0]) * depth / view.focal_px
    error_cam[:, 1] = -(target[:, 1] - uv[:, 1]) * depth / view.focal_px
    error = error_cam @ view.view[:3, :3]  # camera -> model (rotation transpose)
    if trust is not None:
        error = error * trust[:, None]
    keep = np.ones(len(points), bool)
    keep[corr.contour] = False
    keep &= corr.weights > 0.5
    p, e = points[keep], error[keep]
    s2 = 2 * options.residual_sigma_m ** 2
    kernel = np.exp(-((p[:, None] - p[None]) ** 2).sum(2) / s2)
    alpha = np.linalg.solve(kernel + options.residual_damping * np.eye(len(p)), e)
    vs, _ = model.part_slices("skin")
    skin = posed[vs]
    k_skin = np.exp(-((skin[:, None] - p[None]) ** 2).sum(2) / s2)
    offsets = k_skin @ alpha
    norm = np.linalg.norm(offsets, axis=1, keepdims=True)
    offsets *= np.minimum(1.0, options.residual_max_m / np.maximum(norm, 1e-12))
    residual = np.zeros_like(posed)
    residual[vs] = offsets
    return residual
