"""scikit-learn frontends: one module per model family, each registering itself (frontends.registry)."""

from microlearn.frontends.sklearn import boosting as boosting
from microlearn.frontends.sklearn import features as features
from microlearn.frontends.sklearn import kernel as kernel
from microlearn.frontends.sklearn import kmeans as kmeans
from microlearn.frontends.sklearn import linear as linear
from microlearn.frontends.sklearn import lof as lof
from microlearn.frontends.sklearn import mahalanobis as mahalanobis
from microlearn.frontends.sklearn import mixture as mixture
from microlearn.frontends.sklearn import naive_bayes as naive_bayes
from microlearn.frontends.sklearn import neighbors as neighbors
from microlearn.frontends.sklearn import network as network
from microlearn.frontends.sklearn import preprocessing as preprocessing
from microlearn.frontends.sklearn import trees as trees
