/*
 * aimc's compiled cell device for ngspice (OSDI 0.3, loaded with `osdi <file>`).
 *
 * One two-terminal, purely resistive element with the read laws of
 * circuits/devices.py, current from terminal p through the device to terminal n:
 *
 *     I = m * (g*v0) * sinh(x) * (1 + asym*tanh(y)),
 *     x = clamp(V/v0, -ARG_CLAMP, ARG_CLAMP),  y = V/vs,  V = V(p) - V(n)
 *
 * asym = 0 is the RRAM law (the tanh factor is skipped: exactly 1), asym != 0 the
 * PCM law. The derivative of the clamped sinh part is 0 beyond the clamp, as for
 * the B-source's min/max. m ($mfactor, default 1) is ngspice's multiplier.
 *
 * Model parameters: v0 [V] (> 0), asym (-1 < asym < 1), vs [V] (> 0).
 * Instance parameters: g [S] (>= 0), $mfactor (> 0).
 *
 * The structures below are the OSDI 0.3 interface as ngspice reads it
 * (src/osdi/osdi.h, osdiregistry.c, osdisetup.c, osdiload.c of ngspice); they are
 * written here from that description, field by field, in ngspice's order.
 * Built by aimc.circuits.compiled with `cc -O2 -shared -fPIC`; the value of
 * ARG_CLAMP comes from the command line (-DAIMC_ARG_CLAMP=...), the same number
 * as devices.ARG_CLAMP.
 */

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifndef AIMC_ARG_CLAMP
#error "build with -DAIMC_ARG_CLAMP=<devices.ARG_CLAMP>"
#endif

/* ---- the OSDI 0.3 interface ------------------------------------------------ */

#define PARA_TY_REAL 0u
#define PARA_KIND_MODEL (0u << 30)
#define PARA_KIND_INST (1u << 30)
#define ACCESS_FLAG_SET 1u
#define ACCESS_FLAG_INSTANCE 4u
#define JACOBIAN_ENTRY_RESIST 4u
#define CALC_RESIST_RESIDUAL 1u
#define INIT_ERR_OUT_OF_BOUNDS 1u
#define NONE UINT32_MAX

typedef struct {
    char **names;
    double *vals;
    char **names_str;
    char **vals_str;
} SimParas;

typedef struct {
    SimParas paras;
    double abstime;
    double *prev_solve;
    double *prev_state;
    double *next_state;
    uint32_t flags;
} SimInfo;

typedef struct {
    uint32_t code;
    uint32_t parameter_id;      /* the payload union holds only this */
} InitError;

typedef struct {
    uint32_t flags;
    uint32_t num_errors;
    InitError *errors;          /* malloc'd; ngspice frees it */
} InitInfo;

typedef struct {
    uint32_t node_1;
    uint32_t node_2;
} NodePair;

typedef struct {
    NodePair nodes;
    uint32_t react_ptr_off;
    uint32_t flags;
} JacobianEntry;

typedef struct {
    char *name;
    char *units;
    char *residual_units;
    uint32_t resist_residual_off;
    uint32_t react_residual_off;
    uint32_t resist_limit_rhs_off;
    uint32_t react_limit_rhs_off;
    bool is_flow;
} Node;

typedef struct {
    char **name;
    uint32_t num_alias;
    char *description;
    char *units;
    uint32_t flags;
    uint32_t len;
} ParamOpvar;

typedef struct {
    char *name;
    NodePair nodes;
} NoiseSource;

typedef struct {
    char *name;
    uint32_t num_nodes;
    uint32_t num_terminals;
    Node *nodes;
    uint32_t num_jacobian_entries;
    JacobianEntry *jacobian_entries;
    uint32_t num_collapsible;
    NodePair *collapsible;
    uint32_t collapsed_offset;
    NoiseSource *noise_sources;
    uint32_t num_noise_src;
    uint32_t num_params;
    uint32_t num_instance_params;
    uint32_t num_opvars;
    ParamOpvar *param_opvar;
    uint32_t node_mapping_offset;
    uint32_t jacobian_ptr_resist_offset;
    uint32_t num_states;
    uint32_t state_idx_off;
    uint32_t bound_step_offset;
    uint32_t instance_size;
    uint32_t model_size;
    void *(*access)(void *inst, void *model, uint32_t id, uint32_t flags);
    void (*setup_model)(void *handle, void *model, SimParas *sim_params, InitInfo *res);
    void (*setup_instance)(void *handle, void *inst, void *model, double temperature,
                           uint32_t num_terminals, SimParas *sim_params, InitInfo *res);
    uint32_t (*eval)(void *handle, void *inst, const void *model, const SimInfo *info);
    void (*load_noise)(void *inst, void *model, double freq, double *noise_dens,
                       double *ln_noise_dens);
    void (*load_residual_resist)(void *inst, void *model, double *dst);
    void (*load_residual_react)(void *inst, void *model, double *dst);
    void (*load_limit_rhs_resist)(void *inst, void *model, double *dst);
    void (*load_limit_rhs_react)(void *inst, void *model, double *dst);
    void (*load_spice_rhs_dc)(void *inst, void *model, double *dst, double *prev_solve);
    void (*load_spice_rhs_tran)(void *inst, void *model, double *dst, double *prev_solve,
                                double alpha);
    void (*load_jacobian_resist)(void *inst, void *model);
    void (*load_jacobian_react)(void *inst, void *model, double alpha);
    void (*load_jacobian_tran)(void *inst, void *model, double alpha);
} Descriptor;

/* ---- the device --------------------------------------------------------------- */

enum { P_G, P_MFACTOR, P_V0, P_ASYM, P_VS, N_PARAMS };
#define N_INSTANCE_PARAMS 2u

typedef struct {
    double v0, asym, vs;
    bool given[N_PARAMS];
} Model;

typedef struct {
    double g, mfactor;
    bool given[N_PARAMS];
    bool collapsed[1];              /* no collapsible node pairs */
    uint32_t node_mapping[2];       /* global node numbers, written by ngspice */
    uint32_t state_idx[1];          /* no states */
    double *jacobian_ptr[4];        /* matrix elements, written by ngspice */
    double residual[2];             /* currents out of p and n */
    double limit_rhs[2];            /* no limiting: stays 0 */
    double gv0;                     /* m * g * v0 ... see setup_instance */
    double v, i, gd;                /* last evaluation: V, I(V), dI/dV */
} Instance;

static void *access_param(void *inst_, void *model_, uint32_t id, uint32_t flags) {
    Instance *inst = inst_;
    Model *model = model_;
    bool set = flags & ACCESS_FLAG_SET;
    if (id < N_INSTANCE_PARAMS) {
        if (!(flags & ACCESS_FLAG_INSTANCE) || inst == NULL)
            return NULL;
        if (set)
            inst->given[id] = true;
        return id == P_G ? (void *)&inst->g : (void *)&inst->mfactor;
    }
    if (model == NULL || id >= N_PARAMS)
        return NULL;
    if (set)
        model->given[id] = true;
    switch (id) {
    case P_V0: return &model->v0;
    case P_ASYM: return &model->asym;
    default: return &model->vs;
    }
}

static void add_error(InitInfo *res, uint32_t id) {
    InitError *e = realloc(res->errors, (res->num_errors + 1) * sizeof(InitError));
    if (e == NULL)
        return;
    res->errors = e;
    res->errors[res->num_errors].code = INIT_ERR_OUT_OF_BOUNDS;
    res->errors[res->num_errors].parameter_id = id;
    res->num_errors += 1;
}

static void setup_model(void *handle, void *model_, SimParas *sim_params, InitInfo *res) {
    (void)handle;
    (void)sim_params;
    Model *m = model_;
    res->flags = 0;
    res->num_errors = 0;
    res->errors = NULL;
    if (!m->given[P_V0]) m->v0 = 0.3;
    if (!m->given[P_ASYM]) m->asym = 0.0;
    if (!m->given[P_VS]) m->vs = 0.1;
    if (!(m->v0 > 0.0 && isfinite(m->v0))) add_error(res, P_V0);
    if (!(m->asym > -1.0 && m->asym < 1.0)) add_error(res, P_ASYM);
    if (!(m->vs > 0.0 && isfinite(m->vs))) add_error(res, P_VS);
}

static void setup_instance(void *handle, void *inst_, void *model_, double temperature,
                           uint32_t num_terminals, SimParas *sim_params, InitInfo *res) {
    (void)handle;
    (void)temperature;
    (void)num_terminals;
    (void)sim_params;
    Instance *inst = inst_;
    const Model *m = model_;
    res->flags = 0;
    res->num_errors = 0;
    res->errors = NULL;
    if (!inst->given[P_G]) inst->g = 0.0;
    if (!inst->given[P_MFACTOR]) inst->mfactor = 1.0;
    if (!(inst->g >= 0.0 && isfinite(inst->g))) add_error(res, P_G);
    if (!(inst->mfactor > 0.0 && isfinite(inst->mfactor))) add_error(res, P_MFACTOR);
    /* g*v0 first, as devices.py writes it (one rounding), then the multiplier */
    inst->gv0 = inst->g * m->v0;
    if (inst->mfactor != 1.0)
        inst->gv0 *= inst->mfactor;
}

static uint32_t eval(void *handle, void *inst_, const void *model_, const SimInfo *info) {
    (void)handle;
    Instance *inst = inst_;
    const Model *m = model_;
    const double *x_old = info->prev_solve;
    double v = x_old[inst->node_mapping[0]] - x_old[inst->node_mapping[1]];
    double x = v / m->v0;
    double dx = 1.0 / m->v0;
    if (x > AIMC_ARG_CLAMP) {
        x = AIMC_ARG_CLAMP;
        dx = 0.0;
    } else if (x < -AIMC_ARG_CLAMP) {
        x = -AIMC_ARG_CLAMP;
        dx = 0.0;
    }
    double s = sinh(x);
    double a = inst->gv0 * s;
    double i, gd;
    if (m->asym == 0.0) {
        i = a;
        gd = dx != 0.0 ? inst->gv0 * cosh(x) * dx : 0.0;
    } else {
        double t = tanh(v / m->vs);
        double f = 1.0 + m->asym * t;
        i = a * f;
        gd = (dx != 0.0 ? inst->gv0 * cosh(x) * dx * f : 0.0)
             + a * m->asym * (1.0 - t * t) / m->vs;
    }
    inst->v = v;
    inst->i = i;
    inst->gd = gd;
    if (info->flags & CALC_RESIST_RESIDUAL) {
        inst->residual[0] = i;
        inst->residual[1] = -i;
    }
    return 0;
}

static void load_noise(void *inst, void *model, double freq, double *dens, double *ln_dens) {
    (void)inst; (void)model; (void)freq; (void)dens; (void)ln_dens;
}

static void load_residual_resist(void *inst_, void *model, double *dst) {
    (void)model;
    Instance *inst = inst_;
    dst[inst->node_mapping[0]] += inst->i;
    dst[inst->node_mapping[1]] -= inst->i;
}

static void load_nothing(void *inst, void *model, double *dst) {
    (void)inst; (void)model; (void)dst;
}

/* SPICE's right-hand side of the linearised device: J*V_old - I(V_old) */
static void load_spice_rhs_dc(void *inst_, void *model, double *dst, double *prev_solve) {
    (void)model;
    (void)prev_solve;           /* the evaluation's V came from the same vector */
    Instance *inst = inst_;
    double ieq = inst->i - inst->gd * inst->v;
    dst[inst->node_mapping[0]] -= ieq;
    dst[inst->node_mapping[1]] += ieq;
}

static void load_spice_rhs_tran(void *inst, void *model, double *dst, double *prev_solve,
                                double alpha) {
    (void)alpha;
    load_spice_rhs_dc(inst, model, dst, prev_solve);
}

static void load_jacobian_resist(void *inst_, void *model) {
    (void)model;
    Instance *inst = inst_;
    double gd = inst->gd;
    *inst->jacobian_ptr[0] += gd;
    *inst->jacobian_ptr[1] -= gd;
    *inst->jacobian_ptr[2] -= gd;
    *inst->jacobian_ptr[3] += gd;
}

static void load_jacobian_react(void *inst, void *model, double alpha) {
    (void)inst; (void)model; (void)alpha;
}

static void load_jacobian_tran(void *inst, void *model, double alpha) {
    (void)alpha;
    load_jacobian_resist(inst, model);
}

/* ---- the exported tables -------------------------------------------------------- */

static char *name_g[] = {"g"};
static char *name_m[] = {"$mfactor"};
static char *name_v0[] = {"v0"};
static char *name_asym[] = {"asym"};
static char *name_vs[] = {"vs"};

static ParamOpvar params[N_PARAMS] = {
    {name_g, 0, "small-signal conductance at 0 V", "S", PARA_TY_REAL | PARA_KIND_INST, 0},
    {name_m, 0, "multiplier", "", PARA_TY_REAL | PARA_KIND_INST, 0},
    {name_v0, 0, "sinh voltage scale", "V", PARA_TY_REAL | PARA_KIND_MODEL, 0},
    {name_asym, 0, "polarity asymmetry", "", PARA_TY_REAL | PARA_KIND_MODEL, 0},
    {name_vs, 0, "tanh voltage scale of the asymmetry", "V",
     PARA_TY_REAL | PARA_KIND_MODEL, 0},
};

static Node nodes[2] = {
    {"p", "V", "A", offsetof(Instance, residual), NONE,
     offsetof(Instance, limit_rhs), NONE, false},
    {"n", "V", "A", offsetof(Instance, residual) + sizeof(double), NONE,
     offsetof(Instance, limit_rhs) + sizeof(double), NONE, false},
};

static JacobianEntry jacobian[4] = {
    {{0, 0}, NONE, JACOBIAN_ENTRY_RESIST},
    {{0, 1}, NONE, JACOBIAN_ENTRY_RESIST},
    {{1, 0}, NONE, JACOBIAN_ENTRY_RESIST},
    {{1, 1}, NONE, JACOBIAN_ENTRY_RESIST},
};

const uint32_t OSDI_VERSION_MAJOR = 0;
const uint32_t OSDI_VERSION_MINOR = 3;
const uint32_t OSDI_NUM_DESCRIPTORS = 1;

const Descriptor OSDI_DESCRIPTORS[1] = {{
    .name = "aimccell",
    .num_nodes = 2,
    .num_terminals = 2,
    .nodes = nodes,
    .num_jacobian_entries = 4,
    .jacobian_entries = jacobian,
    .num_collapsible = 0,
    .collapsible = NULL,
    .collapsed_offset = offsetof(Instance, collapsed),
    .noise_sources = NULL,
    .num_noise_src = 0,
    .num_params = N_PARAMS,
    .num_instance_params = N_INSTANCE_PARAMS,
    .num_opvars = 0,
    .param_opvar = params,
    .node_mapping_offset = offsetof(Instance, node_mapping),
    .jacobian_ptr_resist_offset = offsetof(Instance, jacobian_ptr),
    .num_states = 0,
    .state_idx_off = offsetof(Instance, state_idx),
    .bound_step_offset = NONE,
    .instance_size = sizeof(Instance),
    .model_size = sizeof(Model),
    .access = access_param,
    .setup_model = setup_model,
    .setup_instance = setup_instance,
    .eval = eval,
    .load_noise = load_noise,
    .load_residual_resist = load_residual_resist,
    .load_residual_react = load_nothing,
    .load_limit_rhs_resist = load_nothing,
    .load_limit_rhs_react = load_nothing,
    .load_spice_rhs_dc = load_spice_rhs_dc,
    .load_spice_rhs_tran = load_spice_rhs_tran,
    .load_jacobian_resist = load_jacobian_resist,
    .load_jacobian_react = load_jacobian_react,
    .load_jacobian_tran = load_jacobian_tran,
}};
