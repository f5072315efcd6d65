"""Dynamic instance interaction (Sparse R-CNN): per-instance 1x1 layers generated
from the instance's embedding and applied to its pooled feature tokens."""
import torch
from torch import nn

__all__ = ["DynamicConv"]


class DynamicConv(nn.Module):
    """Embedding-conditioned stack of 1x1 layers over an instance's tokens."""

    def __init__(self, *, hidden_dim: int, dim_dynamic: int, num_dynamic: int, num_tokens: int):
        """
        Args:
            hidden_dim: width d of embeddings and feature tokens.
            dim_dynamic: inner width of the dynamic layers.
            num_dynamic: number of dynamic layers (>= 2): d -> dd -> ... -> dd -> d.
            num_tokens: tokens per instance (e.g. 7 * 7 RoI cells, or T frames).
        """
        super().__init__()
        if num_dynamic < 2:
            raise ValueError(f"MODEL.WOO.NUM_DYNAMIC must be >= 2, got {num_dynamic}")
        dims = [hidden_dim] + [dim_dynamic] * (num_dynamic - 1) + [hidden_dim]
        self.shapes = list(zip(dims[:-1], dims[1:]))
        self.dynamic_layer = nn.Linear(hidden_dim, sum(a * b for a, b in self.shapes))
        self.norms = nn.ModuleList(nn.LayerNorm(b) for _, b in self.shapes)
        self.activation = nn.ReLU(inplace=True)
        self.out_layer = nn.Linear(hidden_dim * num_tokens, hidden_dim)
        self.out_norm = nn.LayerNorm(hidden_dim)

    def forward(self, embeddings: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """
        Args:
            embeddings: (M, d), one per instance.
            tokens: (M, L, d) pooled features of each instance.

        Returns:
            (M, d) interacted features.
        """
        params = self.dynamic_layer(embeddings)  # (M, sum of d_in * d_out)
        x = tokens
        start = 0
        for (d_in, d_out), norm in zip(self.shapes, self.norms):
            w = params[:, start : start + d_in * d_out].view(-1, d_in, d_out)
            start += d_in * d_out
            x = self.activation(norm(torch.bmm(x, w)))  # (M, L, d_out)
        return self.activation(self.out_norm(self.out_layer(x.flatten(1))))
